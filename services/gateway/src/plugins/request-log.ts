// What is kept of each request: its id (the client's X-Request-Id when sane, else a UUID; echoed
// on the reply and on every log line of the request), one log line when it completes — info for
// POST /v1/events, debug for the rest — with the game server, sandbox and the number of events,
// and its sample of http_server_request_duration. fastify's own request logging is off (app.ts).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createHttpServerMetrics } from '@tradewatch/shared/http-metrics';
import { unencapsulated } from './unencapsulated.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The number of events in the body, once the ingest route has read it. */
    eventCount: number | undefined;
  }
}

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/** fastify's genReqId: the id of a request. */
export const requestIdOf = (req: IncomingMessage): string => {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
};

/** The route whose every request is logged at info: the one that carries events. */
const INGEST_ROUTE = '/v1/events';

export const requestLog = unencapsulated('gateway-request-log', (app, _opts, done) => {
  const httpMetrics = createHttpServerMetrics();
  app.decorateRequest('eventCount', undefined);
  app.addHook('onRequest', (req, reply, next) => {
    void reply.header('x-request-id', req.id);
    next();
  });
  app.addHook('onResponse', (req, reply, next) => {
    const fields = {
      method: req.method,
      url: req.routeOptions.url ?? 'unknown',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      gameServerId: req.gameServerId,
      sandbox: req.caller?.mode === 'sandbox' ? true : undefined,
      events: req.eventCount,
    };
    httpMetrics.record(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    if (req.routeOptions.url === INGEST_ROUTE) req.log.info(fields, 'request completed');
    else req.log.debug(fields, 'request completed');
    next();
  });
  done();
});
