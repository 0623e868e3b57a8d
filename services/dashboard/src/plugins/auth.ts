// Who is asking: every /api/* request but signing in carries a bearer token (scripts) or the
// session cookie (the browser). A request made with the cookie that changes something must also
// carry the session's CSRF token and, when the browser sends an Origin, come from this origin:
// another site can make the browser send the cookie, but can neither read the token nor fake
// the Origin header.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DeskError } from '../errors.ts';
import { SESSION_COOKIE, type SessionSigner } from '../sessions.ts';
import { authenticateBearer, can, type DeskUser } from '../users.ts';

declare module 'fastify' {
  interface FastifyRequest {
    deskUser: DeskUser | undefined;
    /** The session cookie's value when the request was authenticated by it. */
    deskSession: string | undefined;
  }
}

export interface AuthOptions {
  users: readonly DeskUser[];
  sessions: SessionSigner;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const PUBLIC = new Set(['POST /api/session']);

const sameOrigin = (req: FastifyRequest): boolean => {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
};

export const authPlugin = fp<AuthOptions>(
  (app: FastifyInstance, o) => {
    app.decorateRequest('deskUser', undefined);
    app.decorateRequest('deskSession', undefined);
    app.addHook('onRequest', (req, _reply, done) => {
      try {
        authenticate(req, o);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  },
  { name: 'desk-auth', dependencies: ['@fastify/cookie'] },
);

const authenticate = (req: FastifyRequest, o: AuthOptions): void => {
  if (!req.url.startsWith('/api/')) return;
  const path = req.url.split('?')[0]!;
  // Signing in is authenticated by its body; it only has to come from this origin.
  if (PUBLIC.has(`${req.method} ${path}`)) {
    if (!sameOrigin(req)) throw new DeskError('csrf_failed', "sign in from the desk's own page");
    return;
  }
  if (req.headers.authorization !== undefined) {
    const user = authenticateBearer(o.users, req.headers.authorization);
    if (user === undefined) throw new DeskError('invalid_credentials');
    req.deskUser = user;
    return;
  }
  const cookie = req.cookies[SESSION_COOKIE];
  const user = o.sessions.verify(cookie, o.users);
  if (user !== undefined && cookie !== undefined) {
    req.deskUser = user;
    req.deskSession = cookie;
    if (!SAFE_METHODS.has(req.method) && (!sameOrigin(req) || !o.sessions.checkCsrf(cookie, headerOf(req)))) {
      throw new DeskError('csrf_failed');
    }
    return;
  }
  throw new DeskError('unauthorized');
};

const headerOf = (req: FastifyRequest): string | undefined => {
  const v = req.headers['x-csrf-token'];
  return Array.isArray(v) ? v[0] : v;
};

/** The signed-in user, who must be allowed `action`; throws 401/403 otherwise. */
export const requireUser = (req: FastifyRequest, action: 'read' | 'label' | 'manage_rules'): DeskUser => {
  const user = req.deskUser;
  if (user === undefined) throw new DeskError('unauthorized');
  if (!can(user.role, action)) {
    throw new DeskError('forbidden', `the ${user.role} role cannot ${action.replace('_', ' ')}`);
  }
  return user;
};
