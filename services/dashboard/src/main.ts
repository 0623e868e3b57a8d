// Composition root of the fraud desk: config, Kafka (the alert feed, the labels producer, the
// processors' group), ClickHouse, the HTTP app; SIGTERM closes the streams and stops. The
// telemetry starts first: instruments created before it would stay no-ops.
import { createLogger } from '@tradewatch/shared/logger';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import { createClickHouse } from '@tradewatch/shared/clickhouse';
import { runBacktest } from '@tradewatch/shared/backtest-archive';
import { RuleFeed } from '@tradewatch/shared/rule-feed';
import { RuleBook } from '@tradewatch/shared/rules';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { startTelemetry } from '@tradewatch/shared/telemetry';
import { ensureTopology } from '@tradewatch/shared/topology';
import { loadDashboardConfig } from './config.ts';
import { startAlertFeed } from './alert-feed.ts';
import { BacktestJobs } from './backtest-jobs.ts';
import { buildDeskApp } from './app.ts';
import { ClickHouseDeskArchive } from './desk-archive.ts';
import { KafkaLabelPublisher } from './label-publisher.ts';
import { LiveRates } from './live-rates.ts';
import { KafkaRuleRegistry } from './rule-registry.ts';
import { GroupUserStateLocator } from './user-state-locator.ts';

const config = loadDashboardConfig(process.env);
const log = createLogger('dashboard', config.logLevel);
const telemetry = startTelemetry({ service: 'tradewatch-dashboard', config: config.telemetry, log });
const kafka = createKafkaClient({
  brokers: config.kafkaBrokers,
  clientId: 'tradewatch-dashboard',
  logger: log,
});
const admin = kafka.admin();
const clickhouse = createClickHouse({ url: config.clickhouseUrl, application: 'tradewatch-dashboard' });

try {
  if (config.demoUsers) {
    log.warn(
      { users: config.users.map((u) => `${u.name} (${u.role})`) },
      'DASHBOARD_USERS is not set: using the demo users (demo-viewer, demo-analyst, demo-admin)',
    );
  }
  if (config.sessionSecretGenerated) {
    log.info('DASHBOARD_SESSION_SECRET is not set: sessions end when this process stops');
  }
  await ensureTopology(admin, { labels: config.labelsTopic, rules: config.rulesTopic });
  const ruleFeed = new RuleFeed(
    {
      reader: kafka.partitionReader({ maxWaitMs: 100 }),
      admin,
      topic: config.rulesTopic,
      book: new RuleBook(),
      log: log.child({ module: 'rules' }),
      refreshMs: 1000,
    },
    5000,
  );
  ruleFeed.failed.catch((err: unknown) => crash(log, err, 'rules reader failed'));
  await ruleFeed.start();
  const rules = new KafkaRuleRegistry({
    feed: ruleFeed,
    producer: kafka.producer(),
    topic: config.rulesTopic,
    log: log.child({ module: 'rules' }),
  });
  await rules.seed();
  const backtests = new BacktestJobs(
    (ruleFile, window, onProgress) =>
      runBacktest(
        { client: clickhouse, database: config.clickhouseDatabase },
        ruleFile,
        window,
        onProgress,
        true,
      ),
    log.child({ module: 'backtest' }),
  );
  const labels = new KafkaLabelPublisher(kafka, config.labelsTopic);
  const running = await startAlertFeed({
    kafka,
    admin,
    log: log.child({ module: 'feed' }),
    alertsTopic: config.alertsTopic,
    labelsTopic: config.labelsTopic,
    capacity: config.feedBufferRecords,
  });
  const rates = new LiveRates({
    admin,
    eventsTopic: config.eventsTopic,
    prometheusUrl: config.prometheusUrl,
    alertsRead: () => running.feed.alertsRead,
    log: log.child({ module: 'rates' }),
  });
  rates.start();
  const app = await buildDeskApp({
    log,
    users: config.users,
    sessionSecret: config.sessionSecret,
    sessionTtlMs: config.sessionTtlMs,
    secureCookies: config.secureCookies,
    maxPageSize: config.maxPageSize,
    staticDir: config.staticDir,
    feed: running.feed,
    archive: new ClickHouseDeskArchive(clickhouse, config.clickhouseDatabase),
    labels,
    states: new GroupUserStateLocator({
      admin,
      groupId: config.processorGroupId,
      eventsTopic: config.eventsTopic,
      timeoutMs: config.stateTimeoutMs,
      log: log.child({ module: 'state' }),
    }),
    rates,
    telemetry,
    rules,
    backtests,
  });
  onShutdown(log, async () => {
    rates.stop();
    // Open streams end with the process; browsers reconnect and resume from their last id.
    app.server.closeAllConnections();
    await app.close();
    await running.stop();
    await labels.close();
    await rules.close();
    await admin.close();
    await clickhouse.close();
    await telemetry.shutdown();
  });
  const address = await app.listen({ host: config.host, port: config.port });
  log.info({ address, alertsHeld: running.feed.log.size }, 'fraud desk listening');
} catch (err) {
  crash(log, err, 'dashboard failed to start');
}
