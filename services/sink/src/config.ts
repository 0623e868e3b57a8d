// The sink's configuration: every environment variable it reads, validated at start-up.
import { randomUUID } from 'node:crypto';
import { EnvReader, type Env, type LogLevel, type TelemetryConfig } from '@tradewatch/shared/config';
import { isSqlIdentifier } from '@tradewatch/shared/clickhouse';
import {
  DEFAULT_ALERTS_TOPIC,
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_EVENTS_TOPIC,
  DEFAULT_LABELS_TOPIC,
  DEFAULT_RULES_TOPIC,
  DEFAULT_SHADOW_ALERTS_TOPIC,
} from '@tradewatch/shared/topology';
import { defaultMappingWorkers } from './record-mapper.ts';

export interface BatchLimits {
  /** Rows buffered per partition before an insert starts. */
  maxRows: number;
  /** Serialised bytes buffered per partition before an insert starts. */
  maxBytes: number;
  /** Age of the oldest buffered row after which an insert starts anyway, ms. */
  maxWaitMs: number;
}

export interface RetryPolicy {
  /** First delay after a failed insert, ms; doubles per attempt, with jitter. */
  initialMs: number;
  maxMs: number;
}

export interface ClickHouseConfig {
  url: URL;
  database: string;
  username: string | undefined;
  password: string | undefined;
  requestTimeoutMs: number;
}

export interface SinkConfig {
  kafkaBrokers: string[];
  eventsTopic: string;
  alertsTopic: string;
  /** Alerts of shadow rule versions, archived in `alerts_shadow`. */
  shadowAlertsTopic: string;
  /** Rule definitions, archived in `rule_versions` (the audit trail). */
  rulesTopic: string;
  /** The fraud desk's analyst labels; created (shared/src/topology.ts) if the desk has not yet. */
  labelsTopic: string;
  deadLetterTopic: string;
  groupId: string;
  instanceId: string;
  clickhouse: ClickHouseConfig;
  batch: BatchLimits;
  retry: RetryPolicy;
  /** Worker threads that decode and serialise records; 0 = on the main thread. */
  mappingWorkers: number;
  /** Run pending migrations before consuming (otherwise: `npm run migrate`). */
  migrateOnStart: boolean;
  /** How long start-up waits for an unavailable ClickHouse before giving up, ms. */
  startupRetryMs: number;
  /** Where a new consumer group starts: the beginning of the topics (the archive wants everything). */
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxBytesPerPartition: number;
  statsIntervalMs: number;
  /** Port of the HTTP server of `GET /metrics` (Prometheus) and `/healthz`; undefined: none. */
  metricsPort: number | undefined;
  metricsHost: string;
  telemetry: TelemetryConfig;
  logLevel: LogLevel;
}

export const loadSinkConfig = (env: Env): Readonly<SinkConfig> => {
  const r = new EnvReader(env);
  const database = r.string('CLICKHOUSE_DATABASE', 'tradewatch');
  if (!isSqlIdentifier(database)) {
    r.problem(
      `CLICKHOUSE_DATABASE=${JSON.stringify(database)} must be letters, digits and _ (not starting with a digit)`,
    );
  }
  const sessionTimeoutMs = r.int('SINK_SESSION_TIMEOUT_MS', 30000, { min: 6000, max: 300000 });
  const heartbeatIntervalMs = r.int('SINK_HEARTBEAT_INTERVAL_MS', 3000, { min: 100, max: 60000 });
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    r.problem('SINK_HEARTBEAT_INTERVAL_MS must be at most a third of SINK_SESSION_TIMEOUT_MS');
  }
  const initialMs = r.int('SINK_RETRY_INITIAL_MS', 200, { min: 1, max: 60000 });
  const maxMs = r.int('SINK_RETRY_MAX_MS', 10000, { min: 1, max: 600000 });
  if (maxMs < initialMs) r.problem('SINK_RETRY_MAX_MS must be at least SINK_RETRY_INITIAL_MS');
  const topics = {
    EVENTS_TOPIC: r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC),
    ALERTS_TOPIC: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
    SHADOW_ALERTS_TOPIC: r.string('SHADOW_ALERTS_TOPIC', DEFAULT_SHADOW_ALERTS_TOPIC),
    RULES_TOPIC: r.string('RULES_TOPIC', DEFAULT_RULES_TOPIC),
    LABELS_TOPIC: r.string('LABELS_TOPIC', DEFAULT_LABELS_TOPIC),
    DEAD_LETTER_TOPIC: r.string('DEAD_LETTER_TOPIC', DEFAULT_DEAD_LETTER_TOPIC),
  };
  // Each topic is archived into its own table (and dead letters are never archived).
  const byName = new Map<string, string[]>();
  for (const [name, topic] of Object.entries(topics)) byName.set(topic, [...(byName.get(topic) ?? []), name]);
  for (const [topic, names] of byName) {
    if (names.length > 1) r.problem(`${names.join(' and ')} must differ (each is ${JSON.stringify(topic)})`);
  }
  return r.finish('sink', {
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
    eventsTopic: topics.EVENTS_TOPIC,
    alertsTopic: topics.ALERTS_TOPIC,
    shadowAlertsTopic: topics.SHADOW_ALERTS_TOPIC,
    rulesTopic: topics.RULES_TOPIC,
    labelsTopic: topics.LABELS_TOPIC,
    deadLetterTopic: topics.DEAD_LETTER_TOPIC,
    groupId: r.string('SINK_GROUP_ID', 'tradewatch-sink'),
    instanceId: r.string('SINK_INSTANCE_ID', randomUUID().slice(0, 8)),
    clickhouse: {
      url: r.url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:']),
      database,
      username: r.optionalString('CLICKHOUSE_USER'),
      password: r.optionalString('CLICKHOUSE_PASSWORD'),
      requestTimeoutMs: r.int('CLICKHOUSE_REQUEST_TIMEOUT_MS', 60000, { min: 1000, max: 600000 }),
    },
    batch: {
      maxRows: r.int('SINK_BATCH_MAX_ROWS', 50000, { min: 1, max: 1000000 }),
      maxBytes: r.int('SINK_BATCH_MAX_BYTES', 16 * 1024 * 1024, { min: 1024, max: 512 * 1024 * 1024 }),
      maxWaitMs: r.int('SINK_BATCH_MAX_WAIT_MS', 500, { min: 1, max: 600000 }),
    },
    retry: { initialMs, maxMs },
    mappingWorkers: r.int('SINK_MAPPING_WORKERS', defaultMappingWorkers(), { min: 0, max: 64 }),
    migrateOnStart: r.bool('SINK_MIGRATE_ON_START', true),
    startupRetryMs: r.int('SINK_STARTUP_RETRY_MS', 120000, { min: 0 }),
    fromBeginning: r.bool('SINK_FROM_BEGINNING', true),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    maxBytesPerPartition: r.int('SINK_FETCH_MAX_BYTES_PER_PARTITION', 4 * 1024 * 1024, { min: 1024 }),
    statsIntervalMs: r.int('STATS_INTERVAL_MS', 10000, { min: 0 }),
    metricsPort:
      r.optionalString('SINK_METRICS_PORT') === undefined
        ? undefined
        : r.int('SINK_METRICS_PORT', 0, { min: 0, max: 65535 }),
    metricsHost: r.string('SINK_METRICS_HOST', '127.0.0.1'),
    telemetry: r.telemetry(),
    logLevel: r.logLevel(),
  });
};
