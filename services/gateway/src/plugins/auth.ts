// Who is calling: the game server a bearer token belongs to (../auth.ts), on `req.caller`. A route
// that needs a caller takes `authenticateHook(app)` as its first onRequest hook: the token is
// checked before the body is read, so an unauthenticated client costs no parsing. The health
// checks, /metrics and the OpenAPI document need no token.
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { authenticate, type TokenEntry } from '../auth.ts';
import { HttpError } from '../errors.ts';
import type { Caller } from '../ports.ts';
import { unencapsulated } from './unencapsulated.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | undefined;
    /** The caller's game server, for the request's log line. */
    gameServerId: string | undefined;
  }
}

export interface AuthOptions {
  tokens: readonly TokenEntry[];
}

/** The name of the hook this plugin decorates the app with. */
const AUTHENTICATE = 'authenticate';

export const bearerAuth = unencapsulated<AuthOptions>('gateway-auth', (app, opts, done) => {
  app.decorateRequest('caller', undefined);
  app.decorateRequest('gameServerId', undefined);
  const hook: onRequestHookHandler = (req, _reply, next) => {
    try {
      req.caller = authenticate(opts.tokens, req.headers.authorization);
      if (req.caller === undefined) throw new HttpError('unauthorized');
      req.gameServerId = req.caller.gameServerId;
      next();
    } catch (err) {
      next(err as Error);
    }
  };
  app.decorate(AUTHENTICATE, hook);
  done();
});

/** The hook that sets `req.caller` or answers 401; fastify refuses to start without this plugin. */
export const authenticateHook = (app: FastifyInstance): onRequestHookHandler =>
  app.getDecorator<onRequestHookHandler>(AUTHENTICATE);
