// The HTTP API, built from its dependencies and not listening: main.ts listens, tests use
// app.inject(). Owns the routes; who is calling, body parsing, the OpenAPI document, graceful
// close, the request log and error replies are plugins (plugins/). What happens to accepted
// events is ingest.ts, where an event is event-status.ts, and what the OpenAPI document says is
// openapi.ts.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginCallback,
} from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Logger } from '@tradewatch/shared/logger';
import type { TokenEntry } from './auth.ts';
import { HttpError, eventNotFound, misspeltBatch } from './errors.ts';
import { createEventStatusQuery } from './event-status.ts';
import type { IngestMetrics } from './gateway-metrics.ts';
import { createIngest, type Ingest } from './ingest.ts';
import { ingestSchema, statusSchema } from './openapi.ts';
import { authenticateHook, bearerAuth } from './plugins/auth.ts';
import { bodyParsing, jsonBodyOf, refuseCompressedBody } from './plugins/body-parsing.ts';
import { errorReplies } from './plugins/errors.ts';
import { gracefulClose } from './plugins/graceful-close.ts';
import { openApiDocs } from './plugins/openapi-docs.ts';
import { requestIdOf, requestLog } from './plugins/request-log.ts';
import type {
  AcceptedLedger,
  ArchiveLookup,
  EventPublisher,
  PipelineProgress,
  RateGate,
  ReadinessCheck,
} from './ports.ts';

/** What the app needs of the process's telemetry (shared/src/telemetry.ts). */
export interface AppTelemetry {
  /** The body of `GET /metrics`, in the Prometheus text format. */
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
  /** The plugin that opens a span per request; undefined when nothing is traced. */
  fastifyPlugin(): FastifyPluginCallback | undefined;
}

export interface GatewayDeps {
  logger: Logger;
  tokens: readonly TokenEntry[];
  publisher: EventPublisher;
  ledger: AcceptedLedger;
  rateGate: RateGate;
  /** Read by GET /v1/events/:eventId. */
  progress: PipelineProgress;
  archive: ArchiveLookup;
  readiness: readonly ReadinessCheck[];
  maxBodyBytes: number;
  maxEventsPerRequest: number;
  publishTimeoutMs: number;
  claimTtlMs: number;
  maxPendingEvents: number;
  /** Bound on each readiness check, ms. */
  readinessTimeoutMs?: number;
  /** Bound on each question GET /v1/events/:eventId asks Kafka or ClickHouse, ms. */
  statusTimeoutMs?: number;
  /** The OpenAPI document's server URL. */
  publicUrl?: string;
  now?: () => number;
  /** Serves `GET /metrics` and traces requests; without it neither happens (unit tests). */
  telemetry?: AppTelemetry;
  metrics?: IngestMetrics;
}

const EVENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The routes' response schemas document the replies (openapi.ts); replies are written as they are. */
const serialize = (data: unknown): string => JSON.stringify(data);

export const buildApp = async (deps: GatewayDeps): Promise<FastifyInstance> => {
  const now = deps.now ?? Date.now;
  const readinessTimeoutMs = deps.readinessTimeoutMs ?? 2000;
  const ingest: Ingest = createIngest({ ...deps, now });
  const status = createEventStatusQuery({ ...deps, timeoutMs: deps.statusTimeoutMs ?? 2000 });
  const httpLog: FastifyBaseLogger = deps.logger.child({ module: 'http' });
  const app = Fastify({
    loggerInstance: httpLog,
    bodyLimit: deps.maxBodyBytes,
    // One line per request is logged by the request-log plugin, with the game server.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdOf,
    return503OnClosing: true,
    // Longer than any eventId (128), so that a bad one is refused by the route, in the API's words.
    routerOptions: { maxParamLength: 256 },
  });
  // First: the request span must be open before any other hook runs.
  const tracing = deps.telemetry?.fastifyPlugin();
  if (tracing !== undefined) await app.register(tracing);

  await app.register(bearerAuth, { tokens: deps.tokens });
  await app.register(bodyParsing);
  await app.register(openApiDocs, { publicUrl: deps.publicUrl ?? 'http://127.0.0.1:8080' });
  await app.register(gracefulClose, { drain: () => ingest.drain() });
  await app.register(requestLog);
  await app.register(errorReplies, { maxBodyBytes: deps.maxBodyBytes });

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

  const telemetry = deps.telemetry;
  if (telemetry !== undefined) {
    // Unauthenticated, like the health checks: for the Prometheus of the operator's network.
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
      reply.type(telemetry.prometheusContentType).send(await telemetry.prometheusText()),
    );
  }

  // Before the body is read: an unauthenticated client costs no parsing.
  const authenticated = authenticateHook(app);

  app.post(
    '/v1/events',
    {
      schema: ingestSchema(deps.maxEventsPerRequest),
      // The body is validated by validateIncomingEvent, which reports each event's index.
      validatorCompiler: () => (value: unknown) => ({ value }),
      serializerCompiler: () => serialize,
      onRequest: [authenticated, refuseCompressedBody],
    },
    async (req, reply) => {
      const rawEvents = eventsOf(jsonBodyOf(req), deps.maxEventsPerRequest);
      req.eventCount = rawEvents.length;
      const result = await ingest.accept(req.caller!, rawEvents, req.log);
      return reply.status(202).send(result);
    },
  );

  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId',
    {
      schema: statusSchema,
      // The id is checked here, to answer with the API's error shape.
      validatorCompiler: () => (value: unknown) => ({ value }),
      serializerCompiler: () => serialize,
      onRequest: authenticated,
    },
    async (req) => {
      const { eventId } = req.params;
      if (!EVENT_ID.test(eventId)) {
        throw new HttpError('invalid_event_id');
      }
      const found = await status.lookup(req.caller!, eventId);
      if (found === undefined) {
        throw eventNotFound(eventId);
      }
      return found;
    },
  );

  return app;
};

/** The events of a request body: one event, or `{"events": [...]}`. */
const eventsOf = (body: unknown, max: number): unknown[] => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError('invalid_body');
  }
  if (!Object.hasOwn(body, 'events')) {
    // No field of an event is an array: an array in an object without a type is a misspelt
    // batch ({"event": [...]}), better named as such than validated as one event without a type.
    const arrays = Object.hasOwn(body, 'type')
      ? []
      : Object.entries(body).filter(([, v]) => Array.isArray(v));
    if (arrays.length > 0) throw misspeltBatch(arrays.map(([k]) => k));
    return [body];
  }
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
