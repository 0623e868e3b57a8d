// Composition root of the processor: config, Kafka clients, the changelog restorer and the
// exactly-once stream processor; SIGTERM leaves the group cleanly.
import { createLogger } from '@tradewatch/shared/logger';
import { createConsumer, createKafka, ensureTopics, partitionCount } from '@tradewatch/shared/kafka';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { loadProcessorConfig } from './config.ts';
import { ChangelogRestorer } from './changelog-restorer.ts';
import { ProcessorStats } from './processor-stats.ts';
import { StreamProcessor } from './stream-processor.ts';

const config = loadProcessorConfig(process.env);
const log = createLogger('processor', config.logLevel).child({ instance: config.instanceId });
const kafka = createKafka({
  brokers: config.kafkaBrokers,
  clientId: `tradewatch-processor-${config.instanceId}`,
  logger: log,
});
const admin = kafka.admin();
const stats = new ProcessorStats();

const consumer = createConsumer(kafka, {
  groupId: config.groupId,
  readUncommitted: false,
  sessionTimeout: config.sessionTimeoutMs,
  heartbeatInterval: config.heartbeatIntervalMs,
  rebalanceTimeout: Math.max(config.sessionTimeoutMs, 10000),
  maxWaitTimeInMs: config.commitIntervalMs,
  maxBytesPerPartition: config.maxBytesPerPartition,
});
const restoreConsumer = createConsumer(kafka, {
  groupId: `${config.groupId}.restore.${config.instanceId}.${process.pid}`,
  readUncommitted: false,
  sessionTimeout: 30000,
  maxWaitTimeInMs: 50,
  maxBytesPerPartition: 8 * 1024 * 1024,
});
for (const c of [consumer, restoreConsumer]) {
  c.on(c.events.CRASH, ({ payload }) => {
    if (!payload.restart) crash(log, payload.error, 'consumer crashed with a non-retriable error');
    log.warn({ err: payload.error }, 'consumer restarting after a retriable error');
  });
}

try {
  await admin.connect();
  const partitions = await partitionCount(admin, config.eventsTopic);
  await ensureTopics(admin, [
    { topic: config.alertsTopic, partitions },
    {
      topic: config.changelogTopic,
      partitions,
      config: { 'cleanup.policy': 'compact', 'segment.ms': '600000', 'min.cleanable.dirty.ratio': '0.3' },
    },
    { topic: config.deadLetterTopic, partitions: 1 },
  ]);
  const restorer = new ChangelogRestorer(
    restoreConsumer,
    admin,
    config.changelogTopic,
    log.child({ module: 'restore' }),
  );
  const processor = new StreamProcessor({
    kafka,
    consumer,
    restorer,
    log: log.child({ module: 'stream' }),
    stats,
    eventsTopic: config.eventsTopic,
    alertsTopic: config.alertsTopic,
    changelogTopic: config.changelogTopic,
    deadLetterTopic: config.deadLetterTopic,
    groupId: config.groupId,
    transactionalIdPrefix: config.transactionalIdPrefix,
    transactionTimeoutMs: config.transactionTimeoutMs,
    rule: config.rule,
    partitionsConsumedConcurrently: partitions,
  });

  const statsTimer =
    config.statsIntervalMs > 0
      ? setInterval(() => {
          const commit = stats.takeCommitLatency();
          log.info(
            {
              events: stats.events,
              alerts: stats.alerts,
              duplicates: stats.duplicates,
              deadLetters: stats.deadLetters,
              transactions: stats.transactions,
              commitP50Ms: Math.round(commit.p50),
              commitP99Ms: Math.round(commit.p99),
              users: processor.usersHeld(),
              partitions: processor.ownedPartitions,
              restoring: [...stats.restoringPartitions],
            },
            'stats',
          );
        }, config.statsIntervalMs)
      : undefined;
  statsTimer?.unref();

  onShutdown(log, async () => {
    clearInterval(statsTimer);
    await processor.stop();
    await restorer.stop();
    await admin.disconnect();
  });
  await restorer.start();
  await processor.start();
  log.info({ group: config.groupId, topic: config.eventsTopic, partitions }, 'processor running');
} catch (err) {
  crash(log, err, 'processor failed to start');
}
