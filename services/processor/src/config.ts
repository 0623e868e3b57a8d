// The processor's configuration: every environment variable it reads, validated at start-up.
import { randomUUID } from 'node:crypto';
import { EnvReader, type Env, type LogLevel, type TelemetryConfig } from '@tradewatch/shared/config';
import { COMPRESSIONS, type Compression, type GroupConsumerOptions } from '@tradewatch/shared/kafka-port';
import { RULE_HISTORY } from '@tradewatch/shared/rules';
import {
  DEFAULT_ALERTS_TOPIC,
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_EVENTS_TOPIC,
  DEFAULT_RULES_TOPIC,
  DEFAULT_SHADOW_ALERTS_TOPIC,
  defaultChangelogTopic,
} from '@tradewatch/shared/topology';
import { MAX_HISTORY } from '@tradewatch/shared/user-state-store';

export interface ProcessorConfig {
  kafkaBrokers: string[];
  eventsTopic: string;
  alertsTopic: string;
  /** Alerts of shadow rule versions (never written to alertsTopic). */
  shadowAlertsTopic: string;
  /** The rule definitions (shared/src/rules.ts), read whole at start and followed. */
  rulesTopic: string;
  /** How often the rules topic's end is asked for, ms. */
  rulesRefreshMs: number;
  /**
   * Events are applied only while the rule book is known to hold every version written up to
   * this long ago; past it, processing waits for the rules topic (docs/rules.md).
   */
  rulesMaxStalenessMs: number;
  changelogTopic: string;
  deadLetterTopic: string;
  groupId: string;
  /** Prefix of the instance's transactional id: `<prefix>-<instanceId>`. */
  transactionalIdPrefix: string;
  /**
   * The instance's name: its static group membership (group.instance.id) and its transactional
   * id. Two processes must never share one; a restart with the same one gets the same
   * partitions back without a rebalance, if it comes within the session timeout.
   */
  instanceId: string;
  /** Incremental (cooperative-sticky) rebalancing: only the partitions that move stop. */
  cooperative: boolean;
  /** Leave the group on SIGTERM (the partitions move at once) instead of keeping them for a restart. */
  leaveGroupOnStop: boolean;
  /** Codec of the records the processor writes (alerts, changelog, dead letters). */
  compression: Compression;
  /** Trades and past sessions kept per user: the rules' state (20, as the rules say). */
  history: number;
  /**
   * A transaction commits at most this long after the oldest record it carries was applied, ms;
   * the records of several fetches share it. Also the fetch's longest wait for new records.
   */
  commitIntervalMs: number;
  /** Uncommitted records of one partition past which processing waits for the commit. */
  maxUncommittedRecords: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /**
   * The broker aborts a transaction open longer than this, ms. A partition whose previous owner
   * died (and does not come back) with a transaction open is restored once that transaction is
   * aborted: 10 s, as Kafka Streams, plus up to the broker's 10 s abort check.
   */
  transactionTimeoutMs: number;
  maxBytesPerPartition: number;
  /** Most bytes of one fetch, all partitions together. */
  maxBytesPerFetch: number;
  restoreMaxBytesPerPartition: number;
  statsIntervalMs: number;
  /**
   * The HTTP server's port (/metrics, /metrics.json, /v1/users/:userId/state); undefined: no
   * server, and no endpoint advertised to the group. 0: any free port.
   */
  metricsPort: number | undefined;
  metricsHost: string;
  /**
   * The base URL other processes reach this instance's HTTP server at, advertised in the consumer
   * group (describeGroupMembers). undefined: `http://<metricsHost>:<bound port>`.
   */
  advertisedUrl: string | undefined;
  telemetry: TelemetryConfig;
  logLevel: LogLevel;
}

export const loadProcessorConfig = (env: Env): Readonly<ProcessorConfig> => {
  const r = new EnvReader(env);
  const groupId = r.string('PROCESSOR_GROUP_ID', 'tradewatch-processor');
  const sessionTimeoutMs = r.int('PROCESSOR_SESSION_TIMEOUT_MS', 10000, { min: 3000, max: 300000 });
  const heartbeatIntervalMs = r.int('PROCESSOR_HEARTBEAT_INTERVAL_MS', 1000, { min: 100, max: 60000 });
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    r.problem('PROCESSOR_HEARTBEAT_INTERVAL_MS must be at most a third of PROCESSOR_SESSION_TIMEOUT_MS');
  }
  const metricsPort =
    r.optionalString('PROCESSOR_METRICS_PORT') === undefined
      ? undefined
      : r.int('PROCESSOR_METRICS_PORT', 0, { min: 0, max: 65535 });
  const advertised = r.optionalString('PROCESSOR_ADVERTISED_URL');
  let advertisedUrl: string | undefined;
  if (advertised !== undefined) {
    advertisedUrl = r.url('PROCESSOR_ADVERTISED_URL', 'http://127.0.0.1', ['http:', 'https:']).href;
    if (metricsPort === undefined) {
      r.problem(
        'PROCESSOR_ADVERTISED_URL needs PROCESSOR_METRICS_PORT: there is no HTTP server to advertise',
      );
    }
  }
  return r.finish('processor', {
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
    eventsTopic: r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC),
    alertsTopic: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
    shadowAlertsTopic: r.string('SHADOW_ALERTS_TOPIC', DEFAULT_SHADOW_ALERTS_TOPIC),
    rulesTopic: r.string('RULES_TOPIC', DEFAULT_RULES_TOPIC),
    rulesRefreshMs: r.int('PROCESSOR_RULES_REFRESH_MS', 200, { min: 10, max: 60000 }),
    rulesMaxStalenessMs: r.int('PROCESSOR_RULES_MAX_STALENESS_MS', 1000, { min: 50, max: 600000 }),
    changelogTopic: r.string('PROCESSOR_CHANGELOG_TOPIC', defaultChangelogTopic(groupId)),
    deadLetterTopic: r.string('DEAD_LETTER_TOPIC', DEFAULT_DEAD_LETTER_TOPIC),
    groupId,
    transactionalIdPrefix: r.string('PROCESSOR_TRANSACTIONAL_ID_PREFIX', groupId),
    instanceId: r.string('PROCESSOR_INSTANCE_ID', randomUUID().slice(0, 8)),
    cooperative: r.bool('PROCESSOR_COOPERATIVE_REBALANCING', true),
    leaveGroupOnStop: r.bool('PROCESSOR_LEAVE_GROUP_ON_STOP', false),
    compression: r.oneOf('PROCESSOR_COMPRESSION', COMPRESSIONS, 'none'),
    history: r.int('RULE_HISTORY', RULE_HISTORY, { min: 1, max: MAX_HISTORY >> 1 }),
    commitIntervalMs: r.int('PROCESSOR_COMMIT_INTERVAL_MS', 100, { min: 1, max: 60000 }),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    transactionTimeoutMs: r.int('PROCESSOR_TRANSACTION_TIMEOUT_MS', 10000, { min: 1000, max: 900000 }),
    maxUncommittedRecords: r.int('PROCESSOR_MAX_UNCOMMITTED_RECORDS', 10000, { min: 1 }),
    maxBytesPerPartition: r.int('PROCESSOR_MAX_BYTES_PER_PARTITION', 1048576, { min: 1024 }),
    maxBytesPerFetch: r.int('PROCESSOR_MAX_BYTES_PER_FETCH', 6291456, { min: 1024 }),
    restoreMaxBytesPerPartition: r.int('PROCESSOR_RESTORE_MAX_BYTES_PER_PARTITION', 2097152, { min: 1024 }),
    statsIntervalMs: r.int('STATS_INTERVAL_MS', 10000, { min: 0 }),
    metricsPort,
    metricsHost: r.string('PROCESSOR_METRICS_HOST', '127.0.0.1'),
    advertisedUrl,
    telemetry: r.telemetry(),
    logLevel: r.logLevel(),
  });
};

/** The URL advertised for an HTTP server bound to `port`: PROCESSOR_ADVERTISED_URL or the bound address. */
export const advertisedUrlFor = (c: ProcessorConfig, port: number): string => {
  if (c.advertisedUrl !== undefined) return c.advertisedUrl.replace(/\/$/, '');
  const host = c.metricsHost.includes(':') ? `[${c.metricsHost}]` : c.metricsHost;
  return `http://${host}:${port}`;
};

/** The input consumer's settings; the benchmark's consume-only baseline uses the same. */
export const eventsConsumerOptions = (c: ProcessorConfig): GroupConsumerOptions => ({
  groupId: c.groupId,
  topics: [c.eventsTopic],
  groupInstanceId: c.instanceId,
  cooperative: c.cooperative,
  // A task says where its partition starts once it has restored.
  startAt: 'seek',
  sessionTimeoutMs: c.sessionTimeoutMs,
  heartbeatIntervalMs: c.heartbeatIntervalMs,
  rebalanceTimeoutMs: Math.max(c.sessionTimeoutMs, 10000),
  maxWaitMs: c.commitIntervalMs,
  maxBytesPerPartition: c.maxBytesPerPartition,
  maxBytes: c.maxBytesPerFetch,
});
