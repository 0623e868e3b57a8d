// Every error reply of the API: whatever a hook or a route throws becomes `{"error", "message"}`
// (with details or indexes) under the status of its code in the registry (../errors.ts), with
// Retry-After when retrying can help and WWW-Authenticate on a 401; an unknown route is a 404 in
// the same shape. 5xx are logged with their cause (500 at error, 503 at warn); 4xx are the
// client's and are only in the request's log line.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, replyBodyOf, toHttpError } from '../errors.ts';
import { unencapsulated } from './unencapsulated.ts';

export interface ErrorRepliesOptions {
  /** The body limit, named by a 413. */
  maxBodyBytes: number;
}

export const errorReplies = unencapsulated<ErrorRepliesOptions>('gateway-errors', (app, opts, done) => {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err, opts.maxBodyBytes);
    if (e.status >= 500)
      req.log[e.status === 500 ? 'error' : 'warn']({ err: e.cause ?? e, code: e.code }, 'request failed');
    if (e.retryAfterSec !== undefined) void reply.header('retry-after', String(e.retryAfterSec));
    if (e.status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.status(e.status).send(replyBodyOf(e));
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new HttpError('not_found', `no route ${req.method} ${req.url.slice(0, 200)}`);
    return reply.status(e.status).send(replyBodyOf(e));
  });
  done();
});
