// The HTTP API (SPEC §2), built from its dependencies and not listening: main.ts listens, tests
// use app.inject(). Owns request handling, error mapping and the OpenAPI document.
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import { isRetriable } from '@tradewatch/shared/errors';
import { IncomingEventSchema, validateIncomingEvent, type FieldError, type GameEvent } from '@tradewatch/shared/events';
import type { Logger } from '@tradewatch/shared/logger';
import { authenticate, type TokenEntry } from './auth.ts';
import { HttpError } from './errors.ts';
import type { EventPublisher } from './publisher.ts';
import type { RateDecision } from './rate-limit.ts';

export interface AcceptedLedger {
  accepted(eventIds: readonly string[]): Promise<boolean[]>;
  markAccepted(eventIds: readonly string[]): Promise<void>;
}
export interface RateGate {
  take(gameServerId: string, events: number): Promise<RateDecision>;
}
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface GatewayDeps {
  logger: Logger;
  tokens: readonly TokenEntry[];
  publisher: EventPublisher;
  ledger: AcceptedLedger;
  rateGate: RateGate;
  readiness: readonly ReadinessCheck[];
  maxBodyBytes: number;
  maxEventsPerRequest: number;
  now?: () => number;
}

const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });

export const buildApp = async (deps: GatewayDeps): Promise<FastifyInstance> => {
  const now = deps.now ?? Date.now;
  const app = Fastify({
    loggerInstance: deps.logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: deps.maxBodyBytes,
    disableRequestLogging: true,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
    },
    return503OnClosing: true,
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'tradewatch ingest API', version: '1.0.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) {
      if (err.retryAfterSec !== undefined) void reply.header('retry-after', String(err.retryAfterSec));
      if (err.status >= 500) req.log.warn({ err }, 'request failed');
      const body: Record<string, unknown> = { error: err.code, message: err.message };
      if (err.details) body.details = err.details;
      return reply.status(err.status).send(body);
    }
    switch ((err as FastifyError).code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.status(413).send({ error: 'body_too_large', message: `body exceeds ${deps.maxBodyBytes} bytes` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.status(415).send({ error: 'unsupported_media_type', message: 'send Content-Type: application/json' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.status(400).send({ error: 'malformed_json', message: 'the body is empty' });
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.status(400).send({ error: 'malformed_json', message: err.message });
    }
    if (err instanceof SyntaxError || (err as FastifyError).statusCode === 400) {
      return reply.status(400).send({ error: 'malformed_json', message: err.message });
    }
    if (isRetriable(err)) {
      req.log.warn({ err }, 'dependency unavailable');
      return reply.status(503).header('retry-after', '1').send({ error: 'unavailable', message: 'try again shortly' });
    }
    req.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` }),
  );

  app.get('/healthz', { schema: { hide: true } }, () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const results = await Promise.all(
      deps.readiness.map(async (r) => {
        try {
          await r.check();
          return [r.name, 'ok'] as const;
        } catch (err) {
          return [r.name, (err as Error).message] as const;
        }
      }),
    );
    const ready = results.every(([, s]) => s === 'ok');
    return reply.status(ready ? 200 : 503).send({ ready, checks: Object.fromEntries(results) });
  });

  app.post(
    '/v1/events',
    {
      schema: {
        summary: 'Submit one event or a batch of events',
        security: [{ bearer: [] }],
        body: Type.Union([
          IncomingEventSchema,
          Type.Object(
            { events: Type.Array(IncomingEventSchema, { minItems: 1, maxItems: deps.maxEventsPerRequest }) },
            { additionalProperties: false },
          ),
        ]),
        response: {
          202: Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() }),
          400: Type.Object({
            error: Type.String(),
            message: Type.String(),
            details: Type.Optional(
              Type.Array(Type.Object({ index: Type.Integer(), path: Type.String(), message: Type.String() })),
            ),
          }),
          401: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
      // The body is validated by validateIncomingEvent, which reports each event's index.
      validatorCompiler: () => (value) => ({ value }),
    },
    async (req, reply) => {
      const gameServerId = authenticate(deps.tokens, req.headers.authorization);
      if (gameServerId === undefined) throw new HttpError('unauthorized', 'missing or unknown bearer token');

      const rawEvents = eventsOf(req.body, deps.maxEventsPerRequest);
      const receivedAt = now();
      const events: GameEvent[] = [];
      const details: (FieldError & { index: number })[] = [];
      rawEvents.forEach((raw, index) => {
        const r = validateIncomingEvent(raw, { gameServerId, receivedAt });
        if (r.ok) events.push(r.value);
        else for (const e of r.errors) details.push({ index, ...e });
      });
      if (details.length > 0) {
        throw new HttpError('invalid_events', `${new Set(details.map((d) => d.index)).size} invalid event(s)`, {
          details: details.slice(0, 100),
        });
      }

      const rate = await deps.rateGate.take(gameServerId, events.length);
      if (!rate.allowed) {
        throw new HttpError('rate_limited', 'rate limit of this game server exceeded', { retryAfterSec: rate.retryAfterSec });
      }

      const seen = await deps.ledger.accepted(events.map((e) => e.eventId));
      const fresh: GameEvent[] = [];
      const inRequest = new Set<string>();
      events.forEach((ev, i) => {
        if (seen[i] || inRequest.has(ev.eventId)) return;
        inRequest.add(ev.eventId);
        fresh.push(ev);
      });
      await deps.publisher.publish(fresh);
      await deps.ledger.markAccepted(fresh.map((e) => e.eventId));
      req.log.debug({ gameServerId, accepted: fresh.length }, 'events accepted');
      return reply.status(202).send({ accepted: fresh.length, duplicates: events.length - fresh.length });
    },
  );

  return app;
};

/** The events of a request body: one event, or `{"events": [...]}`. */
const eventsOf = (body: unknown, max: number): unknown[] => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError('invalid_body', 'the body must be one event object or {"events": [...]}');
  }
  if (!('events' in body)) return [body];
  const { events, ...rest } = body as { events: unknown };
  if (Object.keys(rest).length > 0) {
    throw new HttpError('invalid_body', `unexpected field(s) beside "events": ${Object.keys(rest).join(', ')}`);
  }
  if (!Array.isArray(events) || events.length === 0 || events.length > max) {
    throw new HttpError('invalid_body', `"events" must be an array of 1 to ${max} events`);
  }
  return events;
};
