// The HTTP API (SPEC §2), built from its dependencies and not listening: main.ts listens, tests
// use app.inject(). Owns routing, authentication, body reading, error replies, request logging
// and the OpenAPI document; what happens to accepted events is ingest.ts.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import { IncomingEventSchema } from '@tradewatch/shared/events';
import type { Logger } from '@tradewatch/shared/logger';
import { authenticate, type TokenEntry } from './auth.ts';
import { HttpError, toHttpError } from './errors.ts';
import { createIngest, type Ingest } from './ingest.ts';
import { isJsonMediaType, parseJsonBody } from './json-body.ts';
import type { AcceptedLedger, EventPublisher, RateGate, ReadinessCheck } from './ports.ts';

export interface GatewayDeps {
  logger: Logger;
  tokens: readonly TokenEntry[];
  publisher: EventPublisher;
  ledger: AcceptedLedger;
  rateGate: RateGate;
  readiness: readonly ReadinessCheck[];
  maxBodyBytes: number;
  maxEventsPerRequest: number;
  publishTimeoutMs: number;
  claimTtlMs: number;
  maxPendingEvents: number;
  /** Bound on each readiness check, ms. */
  readinessTimeoutMs?: number;
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    gameServerId: string | undefined;
    eventCount: number | undefined;
  }
}

const ErrorBody = Type.Object(
  { error: Type.String(), message: Type.String() },
  { description: 'error: a stable code; message: for people' },
);
const RetryAfter = { 'retry-after': { type: 'integer', description: 'seconds to wait before retrying' } };
const withRetryAfter = (description: string) => ({ ...ErrorBody, description, headers: RetryAfter });

const EventFieldErrorSchema = Type.Object({
  index: Type.Integer({
    minimum: 0,
    description: 'position of the event in the request (0 for a single event)',
  }),
  path: Type.String({ description: 'JSON pointer into that event, e.g. /amount' }),
  message: Type.String(),
});

export const buildApp = async (deps: GatewayDeps): Promise<FastifyInstance> => {
  const now = deps.now ?? Date.now;
  const readinessTimeoutMs = deps.readinessTimeoutMs ?? 2000;
  const ingest: Ingest = createIngest({ ...deps, now });
  const httpLog: FastifyBaseLogger = deps.logger.child({ module: 'http' });
  const app = Fastify({
    loggerInstance: httpLog,
    bodyLimit: deps.maxBodyBytes,
    // One line per request is logged by the onResponse hook below, with the game server.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
    },
    return503OnClosing: true,
  });
  app.decorateRequest('gameServerId', undefined);
  app.decorateRequest('eventCount', undefined);

  // JSON in UTF-8 only: fastify's text/plain parser (and any other) is removed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      if (!isJsonMediaType(req.headers['content-type'])) {
        throw new HttpError(
          'unsupported_media_type',
          'send the body as Content-Type: application/json (UTF-8)',
        );
      }
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'tradewatch ingest API',
        version: '1.0.0',
        description: 'Game servers submit login and trade events; see README-api.md for the guarantees.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // While closing, every reply ends its connection: a keep-alive socket that was busy when close
  // began would otherwise hold the server open until its idle timeout.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id);
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const fields = {
      method: req.method,
      url: req.routeOptions.url ?? 'unknown',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      gameServerId: req.gameServerId,
      events: req.eventCount,
    };
    if (req.routeOptions.url === '/v1/events') req.log.info(fields, 'request completed');
    else req.log.debug(fields, 'request completed');
    done();
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err, deps.maxBodyBytes);
    if (e.status >= 500)
      req.log[e.status === 500 ? 'error' : 'warn']({ err: e.cause ?? e, code: e.code }, 'request failed');
    if (e.retryAfterSec !== undefined) void reply.header('retry-after', String(e.retryAfterSec));
    if (e.status === 401) void reply.header('www-authenticate', 'Bearer');
    const body: Record<string, unknown> = { error: e.code, message: e.message };
    if (e.details) body.details = e.details;
    return reply.status(e.status).send(body);
  });

  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${req.method} ${req.url.slice(0, 200)}` }),
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: Kafka and Redis answer',
        response: {
          200: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Type.String()) }),
          503: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Type.String()) }),
        },
      },
    },
    async (_req, reply) => {
      const results = await Promise.all(
        deps.readiness.map(async (r) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              r.check(),
              new Promise((_, reject) => {
                timer = setTimeout(
                  () => reject(new Error(`no answer within ${readinessTimeoutMs} ms`)),
                  readinessTimeoutMs,
                );
              }),
            ]);
            return [r.name, 'ok'] as const;
          } catch (err) {
            return [r.name, (err as Error).message] as const;
          } finally {
            clearTimeout(timer);
          }
        }),
      );
      const ready = results.every(([, s]) => s === 'ok');
      return reply.status(ready ? 200 : 503).send({ ready, checks: Object.fromEntries(results) });
    },
  );

  app.post(
    '/v1/events',
    {
      schema: {
        summary: 'Submit one event or a batch of 1 to 1000 events',
        description:
          'All or nothing: a 202 means every event is in Kafka (acks=all); any other status means none of ' +
          'this request was published by this call. Retry 503 and 429 with the same body after Retry-After.',
        security: [{ bearer: [] }],
        body: Type.Union([
          IncomingEventSchema,
          Type.Object(
            { events: Type.Array(IncomingEventSchema, { minItems: 1, maxItems: deps.maxEventsPerRequest }) },
            { additionalProperties: false, title: 'EventBatch' },
          ),
        ]),
        response: {
          202: Type.Object(
            {
              accepted: Type.Integer({ description: 'events published by this request' }),
              duplicates: Type.Integer({
                description: 'events whose eventId was already accepted; not published again',
              }),
            },
            { description: 'every event of the request is durably in Kafka' },
          ),
          400: Type.Object(
            {
              error: Type.String(),
              message: Type.String(),
              details: Type.Optional(Type.Array(EventFieldErrorSchema)),
            },
            {
              description: 'invalid_events (with details), malformed_json or invalid_body; nothing published',
            },
          ),
          401: { ...ErrorBody, description: 'unauthorized: missing or unknown bearer token' },
          413: { ...ErrorBody, description: 'body_too_large' },
          415: { ...ErrorBody, description: 'unsupported_media_type' },
          429: withRetryAfter('rate_limited: the game server exceeded its events per second'),
          503: withRetryAfter('unavailable (Kafka or Redis) or in_progress (same eventId in flight); retry'),
        },
      },
      // The body is validated by validateIncomingEvent, which reports each event's index.
      validatorCompiler: () => (value: unknown) => ({ value }),
      onRequest: (req, _reply, done) => {
        // Before the body is read: an unauthenticated client costs no parsing.
        req.gameServerId = authenticate(deps.tokens, req.headers.authorization);
        if (req.gameServerId === undefined)
          done(new HttpError('unauthorized', 'missing or unknown bearer token'));
        else done();
      },
    },
    async (req, reply) => {
      if (req.body === undefined || !isJsonMediaType(req.headers['content-type'])) {
        throw new HttpError(
          'unsupported_media_type',
          'send the body as Content-Type: application/json (UTF-8)',
        );
      }
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
        throw new HttpError('unsupported_media_type', 'compressed bodies are not accepted');
      }
      const rawEvents = eventsOf(req.body, deps.maxEventsPerRequest);
      req.eventCount = rawEvents.length;
      const result = await ingest.accept(req.gameServerId!, rawEvents, req.log);
      return reply.status(202).send(result);
    },
  );

  // After the server stopped taking requests: let publishes that outlived their request settle.
  app.addHook('onClose', async () => {
    await ingest.drain();
  });

  return app;
};

/** The events of a request body: one event, or `{"events": [...]}`. */
const eventsOf = (body: unknown, max: number): unknown[] => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError('invalid_body', 'the body must be one event object or {"events": [...]}');
  }
  if (!Object.hasOwn(body, 'events')) return [body];
  const { events, ...rest } = body as { events: unknown };
  const extra = Object.keys(rest);
  if (extra.length > 0) {
    throw new HttpError(
      'invalid_body',
      `unexpected field(s) beside "events": ${extra.slice(0, 10).join(', ')}`,
    );
  }
  if (!Array.isArray(events) || events.length === 0 || events.length > max) {
    throw new HttpError('invalid_body', `"events" must be an array of 1 to ${max} events`);
  }
  return events;
};
