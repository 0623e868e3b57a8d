// The gateway's configuration: every environment variable it reads, validated at start-up.
import { isSqlIdentifier } from '@tradewatch/shared/clickhouse';
import { EnvReader, type Env, type LogLevel, type TelemetryConfig } from '@tradewatch/shared/config';
import { COMPRESSIONS, type Compression } from '@tradewatch/shared/kafka-port';
import { DEFAULT_ALERTS_TOPIC, DEFAULT_EVENTS_TOPIC, defaultSandboxTopic } from '@tradewatch/shared/topology';
import { parseTokens, type TokenEntry } from './auth.ts';

export interface GatewayConfig {
  host: string;
  port: number;
  /** The base URL integrators reach the gateway at: the OpenAPI document's `servers`. */
  publicUrl: string;
  kafkaBrokers: string[];
  eventsTopic: string;
  /** Where sandbox tokens' events go: a topic nothing processes or archives. */
  sandboxTopic: string;
  /** The status endpoint reads the alerts topic and the processors' and sink's groups. */
  alertsTopic: string;
  processorGroupId: string;
  sinkGroupId: string;
  clickhouse: { url: URL; username: string | undefined; password: string | undefined; database: string };
  /** Bound on each question the status endpoint asks Kafka or ClickHouse, ms. */
  statusTimeoutMs: number;
  redisUrl: string;
  /** Prefix of every Redis key the gateway writes (ledger and rate counters). */
  redisKeyPrefix: string;
  tokens: TokenEntry[];
  /** How long a request waits for Kafka's acknowledgement before the client gets 503, ms. */
  publishTimeoutMs: number;
  /**
   * How many times the producer retries one send (backoff 100 ms doubling to 5 s: 30 is about
   * two minutes) before it gives up on it. See gateway.ts.
   */
  producerRetries: number;
  /** Codec of the event records the gateway writes; `none` allowed. */
  kafkaCompression: Compression;
  /** How long a claim on an eventId outlives a request that never finished, ms. */
  claimTtlMs: number;
  idempotencyWindowSec: number;
  rateLimitEventsPerSec: number;
  maxBodyBytes: number;
  maxEventsPerRequest: number;
  /** Events waiting for Kafka beyond which new requests get 503 at once. */
  maxPendingEvents: number;
  telemetry: TelemetryConfig;
  logLevel: LogLevel;
}

/** The demo credential that only `npm start` and `npm run up` fall back to (TRADEWATCH_DEMO=1). */
export const DEMO_TOKENS = 'demo:demo-token,demo:sandbox:demo-sandbox-token';

export const loadGatewayConfig = (env: Env): Readonly<GatewayConfig> => {
  const r = new EnvReader(env);
  const allowDemo = r.bool('TRADEWATCH_DEMO', false);
  const tokenText = r.optionalString('GATEWAY_TOKENS') ?? (allowDemo ? DEMO_TOKENS : undefined);
  let tokens: TokenEntry[] = [];
  if (tokenText === undefined) {
    r.problem('GATEWAY_TOKENS is required: serverId:token[,serverId:token...] (token may be sha256:<hex>)');
  } else {
    try {
      tokens = parseTokens(tokenText);
    } catch (err) {
      r.problem(`GATEWAY_TOKENS: ${(err as Error).message}`);
    }
  }
  const publishTimeoutMs = r.int('GATEWAY_PUBLISH_TIMEOUT_MS', 5000, { min: 100, max: 120000 });
  const claimTtlMs = r.int('GATEWAY_CLAIM_TTL_MS', 30000, { min: 1000, max: 3600000 });
  if (claimTtlMs < 2 * publishTimeoutMs) {
    r.problem('GATEWAY_CLAIM_TTL_MS must be at least twice GATEWAY_PUBLISH_TIMEOUT_MS');
  }
  const maxEventsPerRequest = r.int('GATEWAY_MAX_EVENTS_PER_REQUEST', 1000, { min: 1, max: 10000 });
  const rateLimitEventsPerSec = r.int('GATEWAY_RATE_LIMIT_EVENTS_PER_SEC', 100000, { min: 1 });
  if (rateLimitEventsPerSec < maxEventsPerRequest) {
    r.problem(
      'GATEWAY_RATE_LIMIT_EVENTS_PER_SEC must be at least GATEWAY_MAX_EVENTS_PER_REQUEST (a full batch must fit)',
    );
  }
  const maxPendingEvents = r.int('GATEWAY_MAX_PENDING_EVENTS', 100000, { min: 1 });
  if (maxPendingEvents < maxEventsPerRequest) {
    r.problem('GATEWAY_MAX_PENDING_EVENTS must be at least GATEWAY_MAX_EVENTS_PER_REQUEST');
  }
  const host = r.string('GATEWAY_HOST', '127.0.0.1');
  const port = r.int('GATEWAY_PORT', 8080, { min: 0, max: 65535 });
  // A wildcard address is where the gateway listens, not where anyone reaches it.
  const reachable =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const publicUrl = r.url('GATEWAY_PUBLIC_URL', `http://${reachable}:${port}`, ['http:', 'https:']);
  const eventsTopic = r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC);
  const database = r.string('CLICKHOUSE_DATABASE', 'tradewatch');
  if (!isSqlIdentifier(database)) {
    r.problem(`CLICKHOUSE_DATABASE=${JSON.stringify(database)} must be letters, digits and _`);
  }
  return r.finish('gateway', {
    host,
    port,
    publicUrl: publicUrl.href.replace(/\/$/, ''),
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
    eventsTopic,
    sandboxTopic: r.string('GATEWAY_SANDBOX_TOPIC', defaultSandboxTopic(eventsTopic)),
    alertsTopic: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
    processorGroupId: r.string('PROCESSOR_GROUP_ID', 'tradewatch-processor'),
    sinkGroupId: r.string('SINK_GROUP_ID', 'tradewatch-sink'),
    clickhouse: {
      url: r.url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:']),
      username: r.optionalString('CLICKHOUSE_USER'),
      password: r.optionalString('CLICKHOUSE_PASSWORD'),
      database,
    },
    statusTimeoutMs: r.int('GATEWAY_STATUS_TIMEOUT_MS', 2000, { min: 100, max: 60000 }),
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']).toString(),
    redisKeyPrefix: r.string('GATEWAY_REDIS_KEY_PREFIX', 'tw:gateway:'),
    tokens,
    publishTimeoutMs,
    producerRetries: r.int('GATEWAY_PRODUCER_RETRIES', 30, { min: 1, max: 1000 }),
    kafkaCompression: r.oneOf('GATEWAY_KAFKA_COMPRESSION', COMPRESSIONS, 'lz4'),
    claimTtlMs,
    idempotencyWindowSec: r.int('GATEWAY_IDEMPOTENCY_WINDOW_SEC', 86400, { min: 1 }),
    rateLimitEventsPerSec,
    maxBodyBytes: r.int('GATEWAY_MAX_BODY_BYTES', 1024 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    maxEventsPerRequest,
    maxPendingEvents,
    telemetry: r.telemetry(),
    logLevel: r.logLevel(),
  });
};
