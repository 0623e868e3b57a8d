// The HTTP API, built from its dependencies and not listening: main.ts listens, tests use
// app.inject(). A list of fastify plugins, one concern each, registered in this order: tracing,
// who is calling (plugins/auth.ts), body parsing, the OpenAPI document, graceful close, the
// request log, error replies, then the routes (routes/). What happens to accepted events is
// ingest.ts, where an event is event-status.ts, and what the OpenAPI document says is openapi.ts.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginCallback,
} from 'fastify';
import type { Logger } from '@tradewatch/shared/logger';
import type { TokenEntry } from './auth.ts';
import { createEventStatusQuery } from './event-status.ts';
import type { IngestMetrics } from './gateway-metrics.ts';
import { createIngest } from './ingest.ts';
import { bearerAuth } from './plugins/auth.ts';
import { bodyParsing } from './plugins/body-parsing.ts';
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
import { eventStatusRoute } from './routes/event-status-route.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { ingestRoute } from './routes/ingest-route.ts';
import { metricsRoute, type PrometheusMetrics } from './routes/metrics-route.ts';

/** What the app needs of the process's telemetry (shared/src/telemetry.ts). */
export interface AppTelemetry extends PrometheusMetrics {
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

export const buildApp = async (deps: GatewayDeps): Promise<FastifyInstance> => {
  const ingest = createIngest({ ...deps, now: deps.now ?? Date.now });
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

  await app.register(healthRoutes, {
    readiness: deps.readiness,
    timeoutMs: deps.readinessTimeoutMs ?? 2000,
  });
  if (deps.telemetry !== undefined) await app.register(metricsRoute, { telemetry: deps.telemetry });
  await app.register(ingestRoute, { ingest, maxEventsPerRequest: deps.maxEventsPerRequest });
  await app.register(eventStatusRoute, { status });
  return app;
};
