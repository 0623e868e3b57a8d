// The desk's HTTP application, as a list of plugins: cookies, errors, authentication, the API
// routes and the built web UI. `buildDeskApp` takes every dependency as a port, so tests run it
// with app.inject() and main.ts wires the real ones.
import { existsSync } from 'node:fs';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginCallback,
} from 'fastify';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { createHttpServerMetrics } from '@tradewatch/shared/http-metrics';
import type { Logger } from '@tradewatch/shared/logger';
import type { AlertFeed } from './alert-feed.ts';
import type { BacktestJobs } from './backtest-jobs.ts';
import type { DeskArchive } from './desk-archive.ts';
import type { LabelPublisher } from './label-publisher.ts';
import type { RateSource } from './live-rates.ts';
import { authPlugin } from './plugins/auth.ts';
import { errorsPlugin } from './plugins/errors.ts';
import { alertRoutes } from './routes/alert-routes.ts';
import { overviewRoutes } from './routes/overview-routes.ts';
import { ruleRoutes } from './routes/rule-routes.ts';
import { sessionRoutes } from './routes/session-routes.ts';
import { userRoutes } from './routes/user-routes.ts';
import { SessionSigner } from './sessions.ts';
import type { RuleRegistry } from './rule-registry.ts';
import type { UserStateLocator } from './user-state-locator.ts';
import type { DeskUser } from './users.ts';

/** What the desk needs of the process's telemetry (shared/src/telemetry.ts). */
export interface DeskTelemetry {
  /** The body of `GET /metrics`, in the Prometheus text format. */
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
  /** The plugin that opens a span per request; undefined when nothing is traced. */
  fastifyPlugin(): FastifyPluginCallback | undefined;
}

export interface DeskDeps {
  log: Logger;
  users: readonly DeskUser[];
  sessionSecret: Buffer;
  sessionTtlMs: number;
  secureCookies: boolean;
  maxPageSize: number;
  /** The built web UI, served at `/` when it exists. */
  staticDir?: string | undefined;
  feed: AlertFeed;
  archive: DeskArchive;
  labels: LabelPublisher;
  states: UserStateLocator;
  rates: RateSource;
  rules: RuleRegistry;
  backtests: BacktestJobs;
  now?: () => number;
  /** Serves `GET /metrics` and traces requests; without it neither happens (unit tests). */
  telemetry?: DeskTelemetry;
}

export const buildDeskApp = async (d: DeskDeps): Promise<FastifyInstance> => {
  const logger: FastifyBaseLogger = d.log;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 64 * 1024,
    // A user id may be as long as the event contract allows, and is then a 400, not a 414.
    maxParamLength: 512,
    // Unknown body fields are refused, not dropped (a typo must not pass silently).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Credentials never reach the logs: only method, path and status are logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  // First: the request span must be open before any other hook runs.
  const tracing = d.telemetry?.fastifyPlugin();
  if (tracing !== undefined) await app.register(tracing);
  const httpMetrics = createHttpServerMetrics();
  app.addHook('onResponse', (req, reply, done) => {
    httpMetrics.record(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    if (req.url.startsWith('/api/')) {
      req.log.debug({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode }, 'request');
    }
    done();
  });
  // Bodies are JSON only: anything else is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  const sessions = new SessionSigner(d.sessionSecret, d.sessionTtlMs, d.now);
  await app.register(cookie);
  await app.register(errorsPlugin);
  await app.register(authPlugin, { users: d.users, sessions });
  const common = { feed: d.feed, archive: d.archive, log: d.log };
  sessionRoutes(app, { users: d.users, sessions, secureCookies: d.secureCookies });
  alertRoutes(app, {
    ...common,
    labels: d.labels,
    maxPageSize: d.maxPageSize,
    ...(d.now ? { now: d.now } : {}),
  });
  userRoutes(app, { ...common, states: d.states });
  overviewRoutes(app, { archive: d.archive, rates: d.rates, ...(d.now ? { now: d.now } : {}) });
  ruleRoutes(app, {
    rules: d.rules,
    archive: d.archive,
    backtests: d.backtests,
    ...(d.now ? { now: d.now } : {}),
  });
  app.get('/healthz', () => ({ ok: true }));
  const telemetry = d.telemetry;
  if (telemetry !== undefined) {
    // Unauthenticated, like /healthz: for the Prometheus of the operator's network.
    app.get('/metrics', async (_req, reply) =>
      reply.type(telemetry.prometheusContentType).send(await telemetry.prometheusText()),
    );
  }
  if (d.staticDir !== undefined && existsSync(d.staticDir)) {
    await app.register(fastifyStatic, { root: d.staticDir, index: 'index.html', wildcard: false });
  } else {
    app.get('/', (_req, reply) =>
      reply
        .code(503)
        .type('text/plain')
        .send('the desk UI is not built: run `npm run build -w services/dashboard` (npm start does it)'),
    );
  }
  return app;
};
