// W3C trace context across Kafka: a record's `traceparent` header carries the span that wrote
// it, so that whoever reads the record continues the same trace (the gateway's request and
// publish, the processor's handling of the event, the alert it raised, the sink's insert).
//
// Only sampled work is traced: a record gets a header only when the span writing it records,
// and a reader opens a span only for a header whose sampled flag is set. Until the telemetry
// turns tracing on (telemetry.ts) every function here returns at its first line, so a process
// without an OTLP endpoint pays a boolean test per record, and a traced process at a low
// sampling ratio one header lookup per unsampled record.
import {
  context,
  propagation,
  trace,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

export const TRACEPARENT_HEADER = 'traceparent';

let enabled = false;

/** Called by the telemetry once spans are recorded (an exporter or a test's processors). */
export const enableRecordTracing = (): void => {
  enabled = true;
};

const bufferGetter = {
  keys: (carrier: ReadonlyMap<string, Buffer>) => [...carrier.keys()],
  get: (carrier: ReadonlyMap<string, Buffer>, key: string) => carrier.get(key)?.toString('latin1'),
};

/** Hex digits whose value has the low bit set: a `traceparent` ending in one is sampled. */
const SAMPLED_LAST_DIGIT = new Set([0x31, 0x33, 0x35, 0x37, 0x39, 0x62, 0x64, 0x66, 0x42, 0x44, 0x46]);

/**
 * The context a consumed record's headers carry, when its trace is sampled; undefined for a
 * record without one, with an unsampled one, or while tracing is off.
 */
export const sampledRecordContext = (headers: ReadonlyMap<string, Buffer>): Context | undefined => {
  if (!enabled) return undefined;
  const tp = headers.get(TRACEPARENT_HEADER);
  // 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
  if (tp === undefined || tp.length !== 55 || !SAMPLED_LAST_DIGIT.has(tp[54]!)) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, headers, bufferGetter);
  return trace.getSpanContext(ctx) === undefined ? undefined : ctx;
};

/** The headers that make records written now continue `span`'s trace. */
export const traceHeaders = (span: Span): Record<string, string> => {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier;
};

/**
 * A producer span for records written on behalf of the active context (the request being
 * served), or undefined when that context is not sampled.
 */
export const startPublishSpan = (tracer: Tracer, topic: string, records: number): Span | undefined => {
  if (!enabled) return undefined;
  const parent = trace.getSpan(context.active());
  if (parent === undefined || !parent.isRecording()) return undefined;
  return tracer.startSpan(`send ${topic}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.destination.name': topic,
      'messaging.batch.message_count': records,
    },
  });
};

/** A span continuing a consumed record's trace; undefined unless the record's trace is sampled. */
export const startRecordSpan = (
  tracer: Tracer,
  name: string,
  headers: ReadonlyMap<string, Buffer>,
  attributes: Attributes,
  kind: SpanKind = SpanKind.CONSUMER,
): Span | undefined => {
  const parent = sampledRecordContext(headers);
  if (parent === undefined) return undefined;
  return tracer.startSpan(name, { kind, attributes }, parent);
};

/** Ends `span` as failed by `err`. */
export const endWithError = (span: Span, err: unknown): void => {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
};
