// GET /metrics: the process's metrics in the Prometheus text format. Unauthenticated, like the
// health checks: for the Prometheus of the operator's network. Not in the OpenAPI document.
import type { FastifyPluginCallback } from 'fastify';

/** What the route needs of the process's telemetry (shared/src/telemetry.ts). */
export interface PrometheusMetrics {
  /** The body of `GET /metrics`, in the Prometheus text format. */
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
}

export interface MetricsRouteOptions {
  telemetry: PrometheusMetrics;
}

export const metricsRoute: FastifyPluginCallback<MetricsRouteOptions> = (app, { telemetry }, done) => {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(telemetry.prometheusContentType).send(await telemetry.prometheusText()),
  );
  done();
};
