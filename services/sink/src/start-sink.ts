// Builds and starts a sink from its config: ClickHouse client, migrations, Kafka clients, the
// dead-letter and labels topics (the sink may start before the desk) and the archive consumer.
// Used by main.ts and, in-process, by tests:
//
//   const sink = await startSink(loadSinkConfig({ ...process.env, CLICKHOUSE_DATABASE: 'it_x' }), log);
//   ... await sink.stop();            // flushes, commits, leaves the group, closes clients
//   sink.failed                        // rejects if the sink hit an unrecoverable error
import { createClickHouse, sqlTable, type ClickHouseClient } from '@tradewatch/shared/clickhouse';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { Logger } from '@tradewatch/shared/logger';
import { ensureTopology } from '@tradewatch/shared/topology';
import { ArchiveSink } from './archive-sink.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { createRecordMapper } from './record-mapper.ts';
import type { SinkConfig } from './config.ts';
import { migrate } from './migration-runner.ts';
import { SinkStats } from './sink-stats.ts';
import { backoffDelay } from './retry-backoff.ts';
import { isRetriable } from '@tradewatch/shared/errors';

export interface RunningSink {
  stats: SinkStats;
  /** Rows held in memory, not yet inserted. */
  bufferedRows(): number;
  /** True while consumption is paused because ClickHouse is unavailable. */
  isPaused(): boolean;
  /** Rejects when the sink hits an error it cannot recover from (never resolves otherwise). */
  failed: Promise<never>;
  stop(): Promise<void>;
}

export const createSinkClickHouse = (config: Readonly<SinkConfig>): ClickHouseClient =>
  createClickHouse({
    url: config.clickhouse.url,
    username: config.clickhouse.username,
    password: config.clickhouse.password,
    requestTimeoutMs: config.clickhouse.requestTimeoutMs,
    application: 'tradewatch-sink',
  });

/**
 * Runs `fn` again (with backoff) while it fails because ClickHouse is unavailable, up to
 * config.startupRetryMs: a sink started while ClickHouse restarts waits for it instead of crashing.
 */
const retryWhileUnavailable = async <T>(
  fn: () => Promise<T>,
  config: Readonly<SinkConfig>,
  log: Logger,
): Promise<T> => {
  const deadline = Date.now() + config.startupRetryMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delayMs = backoffDelay(config.retry, attempt);
      if (!isRetriable(err) || Date.now() + delayMs > deadline) throw err;
      log.warn({ err, attempt, delayMs }, 'ClickHouse unavailable at start-up, retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
};

export const startSink = async (config: Readonly<SinkConfig>, log: Logger): Promise<RunningSink> => {
  const stats = new SinkStats();
  const clickhouse = createSinkClickHouse(config);
  const kafka = createKafkaClient({
    brokers: config.kafkaBrokers,
    clientId: `tradewatch-sink-${config.instanceId}`,
    logger: log,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const topics = {
    events: config.eventsTopic,
    alerts: config.alertsTopic,
    shadow: config.shadowAlertsTopic,
    labels: config.labelsTopic,
    rules: config.rulesTopic,
  };
  const consumer = kafka.groupConsumer({
    groupId: config.groupId,
    topics: Object.values(topics),
    startAt: 'committed',
    fallback: config.fromBeginning ? 'earliest' : 'latest',
    sessionTimeoutMs: config.sessionTimeoutMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    rebalanceTimeoutMs: Math.max(config.sessionTimeoutMs, 10000),
    maxWaitMs: Math.min(config.batch.maxWaitMs, 500),
    maxBytesPerPartition: config.maxBytesPerPartition,
    maxBytes: Math.max(config.maxBytesPerPartition * 4, 64 * 1024 * 1024),
  });

  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  consumer.failed.catch((err: unknown) => fail(err));

  const database = config.clickhouse.database;
  const writer = new ArchiveWriter({ client: clickhouse, onBisect: () => stats.bisections++ });
  const mapper = createRecordMapper(config.mappingWorkers);
  const close = async () => {
    await mapper.close();
    await producer.close().catch((err: unknown) => log.warn({ err }, 'producer close failed'));
    await admin.close().catch((err: unknown) => log.warn({ err }, 'admin close failed'));
    await clickhouse.close();
  };

  let sink: ArchiveSink;
  try {
    if (config.migrateOnStart) {
      const mlog = log.child({ module: 'migrate' });
      await retryWhileUnavailable(() => migrate(clickhouse, database, mlog), config, mlog);
    }
    // The processors create the shadow alerts' topic too (the sink may start first).
    await ensureTopology(
      admin,
      {
        deadLetters: config.deadLetterTopic,
        labels: config.labelsTopic,
        rules: config.rulesTopic,
        shadowAlerts: config.shadowAlertsTopic,
      },
      { eventsPartitions: await admin.partitionCount(config.eventsTopic) },
    );
    for (const topic of Object.values(topics)) await admin.partitionCount(topic);
    sink = new ArchiveSink({
      consumer,
      producer,
      writer,
      mapper,
      log: log.child({ module: 'archive' }),
      stats,
      topics,
      tables: {
        events: sqlTable(database, 'events'),
        alerts: sqlTable(database, 'alerts'),
        shadow: sqlTable(database, 'alerts_shadow'),
        labels: sqlTable(database, 'alert_labels'),
        rules: sqlTable(database, 'rule_versions'),
      },
      deadLetterTopic: config.deadLetterTopic,
      batch: config.batch,
      retry: config.retry,
      onFatal: (err) => fail(err),
    });
    await sink.start();
  } catch (err) {
    await consumer.close().catch(() => undefined);
    await close();
    throw err;
  }
  log.info(
    {
      group: config.groupId,
      topics: [config.eventsTopic, config.alertsTopic, config.labelsTopic],
      database,
      batch: config.batch,
    },
    'sink running',
  );

  return {
    stats,
    bufferedRows: () => sink.bufferedRows(),
    isPaused: () => sink.isPaused,
    failed,
    stop: async () => {
      await sink.stop();
      await close();
    },
  };
};
