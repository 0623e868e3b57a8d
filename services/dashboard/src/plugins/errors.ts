// Every error answer of the desk is `{"error", "message"}` with the status of its code in the
// registry (errors.ts); unknown /api/ paths are 404 in the same shape. 5xx are logged with their
// cause; 4xx are the client's and logged at debug.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DeskError, toDeskError } from '../errors.ts';

export const errorsPlugin = fp(
  (app: FastifyInstance) => {
    app.setErrorHandler((err, req, reply) => {
      const e = toDeskError(err);
      if (e.status >= 500) req.log.error({ err }, 'request failed');
      else req.log.debug({ code: e.code }, 'request refused');
      if (e.status === 503) void reply.header('retry-after', '1');
      return reply.code(e.status).send({ error: e.code, message: e.message });
    });
    app.setNotFoundHandler((req, reply) => {
      const e = new DeskError('not_found', `no such resource: ${req.method} ${req.url.split('?')[0]}`);
      return reply.code(404).send({ error: e.code, message: e.message });
    });
  },
  { name: 'desk-errors' },
);
