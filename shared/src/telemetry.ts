// The OpenTelemetry SDK of a service, started once by its main.ts before the modules it
// instruments are loaded. Metrics are always on and read by Prometheus from the service's own
// HTTP server (`prometheusText`); spans are recorded only when an OTLP endpoint is configured
// (the standard OTEL_* variables, read by the SDK: endpoint, protocol, sampler, batching) or a
// test hands in span processors. Without either no tracer provider is registered, so every
// tracer is the API's no-op and trace-context.ts skips its work: tracing off costs close to nothing.
//
// Instrumentations: outgoing HTTP (ClickHouse's client speaks HTTP), ioredis, fastify
// (@fastify/otel, registered as a plugin by the app that wants request spans), and the Node
// runtime (event-loop delay, V8 heap). Incoming HTTP is left to @fastify/otel, which opens the
// request span and reads the caller's `traceparent`; the processor's and sink's small servers
// only answer scrapes and state queries.
import { createRequire } from 'node:module';
import { diag, DiagLogLevel, metrics, type Attributes } from '@opentelemetry/api';
import { register as registerImportHooks } from 'import-in-the-middle/register-hooks.mjs';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { envDetector, processDetector } from '@opentelemetry/resources';
import { startNodeSdk } from '@opentelemetry/sdk-node';
import {
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { TelemetryConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { enableRecordTracing } from './trace-context.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The share of new traces sampled unless OTEL_TRACES_SAMPLER says otherwise: every span per
 * event halves the processor's throughput (bench/tracing-bench.ts), 1 % costs it little.
 */
export const DEFAULT_TRACE_RATIO = 0.01;

export interface TelemetryOptions {
  /** `service.name`, e.g. tradewatch-gateway. */
  service: string;
  /** `service.instance.id`, when the service has a name per instance. */
  instance?: string;
  config: TelemetryConfig;
  /** Where the SDK's own warnings and errors go (an export that failed, a span queue full). */
  log: Logger;
  /** Span processors that replace the OTLP export (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  /** Overrides OTEL_TRACES_SAMPLER (tests and benchmarks). */
  sampler?: Sampler;
}

export interface Telemetry {
  /** True when spans are recorded (some sampled); false: every tracer is a no-op. */
  readonly tracing: boolean;
  /** Every instrument of the process in the Prometheus text format (0.0.4). */
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
  /** The fastify plugin that opens request spans; undefined when nothing is traced. */
  fastifyPlugin(): ReturnType<FastifyOtelInstrumentation['plugin']> | undefined;
  /** Flushes spans still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/** Paths that would only trace the telemetry itself. */
const UNTRACED_PATHS = new Set(['/metrics', '/metrics.json', '/healthz', '/readyz']);

const pathOf = (url: string | undefined): string => (url ?? '/').split('?', 1)[0]!;

let started: Telemetry | undefined;

export const startTelemetry = (o: TelemetryOptions): Telemetry => {
  if (started !== undefined) return started;
  // ioredis is CommonJS imported from ES modules, which the SDK's require hook does not see: a
  // synchronous import hook limited to it lets its instrumentation patch it when it loads.
  registerImportHooks({ include: ['ioredis'] });
  const prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const serializer = new PrometheusSerializer('', false, undefined, false, true);
  const fastify = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    ignorePaths: (r) => UNTRACED_PATHS.has(pathOf(r.url)),
  });
  const tracing = o.spanProcessors !== undefined || o.config.exportTraces;
  const resourceAttributes: Attributes = { 'service.name': o.service, 'service.namespace': 'tradewatch' };
  if (o.instance !== undefined) resourceAttributes['service.instance.id'] = o.instance;
  const sdk = startNodeSdk({
    resourceAttributes,
    // Detectors that answer at once: the host's (machine id) would leave the first scrapes'
    // resource incomplete.
    resourceDetectors: [processDetector, envDetector],
    metricReaders: [prometheus],
    // undefined: the exporters OTEL_TRACES_EXPORTER names (OTLP by default); []: no tracer provider.
    ...(o.spanProcessors !== undefined
      ? { spanProcessors: o.spanProcessors }
      : o.config.exportTraces
        ? {}
        : { spanProcessors: [] }),
    ...(o.sampler !== undefined
      ? { sampler: o.sampler }
      : o.config.samplerFromEnv
        ? {}
        : { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(DEFAULT_TRACE_RATIO) }) }),
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: true,
        // A ClickHouse or Redis call outside any traced work is not worth a trace of its own.
        requireParentforOutgoingSpans: true,
      }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new RuntimeNodeInstrumentation(),
      ...(tracing ? [fastify] : []),
    ],
  });
  // The HTTP instrumentation patches the http modules when they are next required: modules that
  // were loaded before (the config's ClickHouse helpers) hold the same objects, patched now.
  const require = createRequire(import.meta.url);
  require('node:http');
  require('node:https');
  // The SDK's diagnostics as the service's JSON log lines, not console text.
  const sdkLog = o.log.child({ module: 'opentelemetry' });
  diag.setLogger(
    {
      error: (message, ...args) => sdkLog.error({ args }, message),
      warn: (message, ...args) => sdkLog.warn({ args }, message),
      info: (message, ...args) => sdkLog.info({ args }, message),
      debug: (message, ...args) => sdkLog.debug({ args }, message),
      verbose: (message, ...args) => sdkLog.trace({ args }, message),
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  if (tracing) enableRecordTracing();
  const meter = metrics.getMeter('tradewatch-process');
  // The semantic conventions' process.memory.usage (resident set), beside the runtime's V8 heap.
  meter
    .createObservableGauge('process.memory.usage', {
      description: 'Resident memory of the process',
      unit: 'By',
    })
    .addCallback((r) => r.observe(process.memoryUsage.rss()));
  started = {
    tracing,
    prometheusContentType: PROMETHEUS_CONTENT_TYPE,
    fastifyPlugin: () => (tracing ? fastify.plugin() : undefined),
    async prometheusText() {
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    async shutdown() {
      await sdk.shutdown();
    },
  };
  return started;
};
