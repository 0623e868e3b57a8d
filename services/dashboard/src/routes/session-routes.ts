// Signing in and out of the browser UI. POST /api/session checks a name and token and sets the
// session cookie (HttpOnly, SameSite=Strict); GET /api/session says who is signed in and hands
// the page its CSRF token; DELETE /api/session clears the cookie.
import type { FastifyInstance } from 'fastify';
import type { SessionInfo } from '../api-types.ts';
import { DeskError } from '../errors.ts';
import { SESSION_COOKIE, type SessionSigner } from '../sessions.ts';
import { authenticateToken, type DeskUser } from '../users.ts';
import { requireUser } from '../plugins/auth.ts';

export interface SessionRoutesOptions {
  users: readonly DeskUser[];
  sessions: SessionSigner;
  secureCookies: boolean;
}

const bodySchema = {
  type: 'object',
  required: ['name', 'token'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    token: { type: 'string', minLength: 1, maxLength: 512 },
  },
} as const;

export const sessionRoutes = (app: FastifyInstance, o: SessionRoutesOptions): void => {
  app.post<{ Body: { name: string; token: string } }>(
    '/api/session',
    { schema: { body: bodySchema } },
    async (req, reply) => {
      const user = authenticateToken(o.users, req.body.token, req.body.name);
      if (user === undefined) throw new DeskError('invalid_credentials');
      const { value, expiresAt } = o.sessions.issue(user);
      req.log.info({ user: user.name, role: user.role }, 'signed in');
      void reply.setCookie(SESSION_COOKIE, value, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: o.secureCookies,
        expires: new Date(expiresAt),
      });
      const info: SessionInfo = { name: user.name, role: user.role, csrfToken: o.sessions.csrfToken(value) };
      return info;
    },
  );

  app.get('/api/session', (req) => {
    const user = requireUser(req, 'read');
    const info: SessionInfo = {
      name: user.name,
      role: user.role,
      // A script with a bearer token needs no CSRF token; it gets an empty one.
      csrfToken: req.deskSession === undefined ? '' : o.sessions.csrfToken(req.deskSession),
    };
    return info;
  });

  app.delete('/api/session', (_req, reply) => {
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    void reply.code(204).send();
  });
};
