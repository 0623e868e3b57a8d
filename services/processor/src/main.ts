// Composition root of the processor: config, Kafka clients, the changelog restorer, the
// exactly-once stream processor, and its HTTP server (metrics and the user-state query), whose
// address the events consumer advertises to the group; SIGTERM commits and stops (keeping the
// static membership's partitions for a restart unless PROCESSOR_LEAVE_GROUP_ON_STOP). The
// telemetry starts first: instruments created before it would stay no-ops.
import { createLogger } from '@tradewatch/shared/logger';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { AdvertisedEndpoint } from '@tradewatch/shared/kafka-port';
import { RuleFeed } from '@tradewatch/shared/rule-feed';
import { RuleBook } from '@tradewatch/shared/rules';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { startTelemetry } from '@tradewatch/shared/telemetry';
import { ensureTopology } from '@tradewatch/shared/topology';
import { advertisedUrlFor, eventsConsumerOptions, loadProcessorConfig } from './config.ts';
import { ChangelogRestorer } from './changelog-restorer.ts';
import { ProcessorHttpServer } from './processor-http-server.ts';
import { ProcessorMetrics } from './processor-metrics.ts';
import { ProcessorStats } from './processor-stats.ts';
import { StreamProcessor } from './stream-processor.ts';
import { UserStateQuery } from './user-state-query.ts';

const config = loadProcessorConfig(process.env);
const log = createLogger('processor', config.logLevel).child({ instance: config.instanceId });
const telemetry = startTelemetry({
  service: 'tradewatch-processor',
  instance: config.instanceId,
  config: config.telemetry,
  log,
});
const kafka = createKafkaClient({
  brokers: config.kafkaBrokers,
  clientId: `tradewatch-processor-${config.instanceId}`,
  logger: log,
});
const admin = kafka.admin();
const stats = new ProcessorStats();
const metrics = new ProcessorMetrics(stats, { instance: config.instanceId });

try {
  const partitions = await admin.partitionCount(config.eventsTopic);
  await ensureTopology(
    admin,
    {
      alerts: config.alertsTopic,
      shadowAlerts: config.shadowAlertsTopic,
      rules: config.rulesTopic,
      changelog: config.changelogTopic,
      deadLetters: config.deadLetterTopic,
    },
    { eventsPartitions: partitions },
  );
  // The HTTP server listens before the events consumer exists: the consumer advertises the bound
  // address when it joins. Until the processor below is built, no partition is owned here.
  const owner: { processor?: StreamProcessor } = {};
  const http = new ProcessorHttpServer({
    metrics,
    prometheus: telemetry,
    userState: new UserStateQuery({
      source: {
        lookupUser: (partition, userId) =>
          owner.processor?.lookupUser(partition, userId) ?? { status: 'not_owner' },
      },
      partitions,
      instance: config.instanceId,
    }),
    log: log.child({ module: 'http' }),
  });
  let advertise: AdvertisedEndpoint | undefined;
  if (config.metricsPort !== undefined) {
    const port = await http.listen(config.metricsHost, config.metricsPort);
    advertise = { instance: config.instanceId, endpoint: advertisedUrlFor(config, port) };
    // "metrics listening" is the line tools (bench/processor-bench.ts) read the port from.
    log.info({ host: config.metricsHost, port, advertised: advertise.endpoint }, 'metrics listening');
  }
  const consumer = kafka.groupConsumer({
    ...eventsConsumerOptions(config),
    ...(advertise === undefined ? {} : { advertise }),
  });
  const markers = kafka.producer({ compression: config.compression });
  const restorer = new ChangelogRestorer({
    reader: kafka.partitionReader({
      maxWaitMs: 50,
      maxBytesPerPartition: config.restoreMaxBytesPerPartition,
      maxBytes: 4 * config.restoreMaxBytesPerPartition,
    }),
    markers,
    admin,
    topic: config.changelogTopic,
    log: log.child({ module: 'restore' }),
  });
  // The whole rules topic is read before any event is applied, then followed.
  const rules = new RuleFeed(
    {
      reader: kafka.partitionReader({ maxWaitMs: 100 }),
      admin,
      topic: config.rulesTopic,
      book: new RuleBook(),
      log: log.child({ module: 'rules' }),
      refreshMs: config.rulesRefreshMs,
    },
    config.rulesMaxStalenessMs,
  );
  rules.failed.catch((err: unknown) => crash(log, err, 'rules reader failed'));
  await rules.start();
  log.info({ topic: config.rulesTopic, versions: rules.book.all().length }, 'rules read');
  const processor = new StreamProcessor({
    consumer,
    createProducer: () =>
      kafka.transactionalProducer({
        transactionalId: `${config.transactionalIdPrefix}-${config.instanceId}`,
        transactionTimeoutMs: config.transactionTimeoutMs,
        compression: config.compression,
      }),
    restorer,
    admin,
    log: log.child({ module: 'stream' }),
    stats,
    topics: {
      events: config.eventsTopic,
      alerts: config.alertsTopic,
      shadowAlerts: config.shadowAlertsTopic,
      changelog: config.changelogTopic,
      deadLetters: config.deadLetterTopic,
    },
    groupId: config.groupId,
    rules,
    history: config.history,
    commitIntervalMs: config.commitIntervalMs,
    maxUncommittedRecords: config.maxUncommittedRecords,
    leaveGroupOnStop: config.leaveGroupOnStop,
    onFatal: (err) => crash(log, err, 'processor failed'),
  });
  owner.processor = processor;
  stats.usersByPartition = () => processor.usersByPartition();

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
              ...metrics.rates(),
              users: processor.usersHeld(),
              partitions: processor.ownedPartitions,
              lag: stats.view().reduce((n, p) => n + (p.lag ?? 0), 0),
              restoring: stats.restoringPartitions,
            },
            'stats',
          );
        }, config.statsIntervalMs)
      : undefined;
  statsTimer?.unref();

  onShutdown(log, async () => {
    clearInterval(statsTimer);
    await processor.stop();
    await rules.stop();
    await restorer.stop();
    await markers.close();
    await admin.close();
    await http.close();
    metrics.close();
    await telemetry.shutdown();
  });
  await processor.start();
  log.info({ group: config.groupId, topic: config.eventsTopic, partitions }, 'processor running');
} catch (err) {
  crash(log, err, 'processor failed to start');
}
