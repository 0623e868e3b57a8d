// Composition root of the sink: reads the config, starts the archive (migrations, Kafka,
// ClickHouse), logs stats, and on SIGTERM flushes, commits and leaves the group.
//
// Run it:   node services/sink/src/main.ts          (or: npm start -w @tradewatch/sink)
// Env:      KAFKA_BROKERS, EVENTS_TOPIC, ALERTS_TOPIC, LABELS_TOPIC, DEAD_LETTER_TOPIC,
//           SINK_GROUP_ID, CLICKHOUSE_URL, CLICKHOUSE_DATABASE,
//           SINK_BATCH_MAX_ROWS / _MAX_BYTES / _MAX_WAIT_MS, ... (all in config.ts).
//           Exits 1 on an unrecoverable error, 0 after SIGTERM.
// In-process (tests): import { startSink } from './start-sink.ts' and loadSinkConfig(env);
//           `await startSink(config, logger)` returns { stop(), stats, failed, isPaused() }.
import { createLogger } from '@tradewatch/shared/logger';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { startTelemetry } from '@tradewatch/shared/telemetry';
import { loadSinkConfig } from './config.ts';
import { startSinkHttpServer, type SinkHttpServer } from './sink-http-server.ts';
import { startSink } from './start-sink.ts';

const config = loadSinkConfig(process.env);
// First: instruments created before the SDK would stay no-ops.
const log = createLogger('sink', config.logLevel).child({ instance: config.instanceId });
const telemetry = startTelemetry({
  service: 'tradewatch-sink',
  instance: config.instanceId,
  config: config.telemetry,
  log,
});

try {
  let http: SinkHttpServer | undefined;
  if (config.metricsPort !== undefined) {
    http = await startSinkHttpServer(
      telemetry,
      config.metricsHost,
      config.metricsPort,
      log.child({ module: 'http' }),
    );
    // "metrics listening" is the line tools read the port from.
    log.info({ host: config.metricsHost, port: http.port }, 'metrics listening');
  }
  const sink = await startSink(config, log);
  sink.failed.catch((err: unknown) => crash(log, err, 'sink failed'));

  const statsTimer =
    config.statsIntervalMs > 0
      ? setInterval(() => {
          const s = sink.stats;
          const insert = s.takeInsertLatency();
          log.info(
            {
              events: s.archived.events,
              alerts: s.archived.alerts,
              labels: s.archived.labels,
              deadLetters: s.deadLetters,
              inserts: s.inserts,
              insertP50Ms: Math.round(insert.p50),
              insertP99Ms: Math.round(insert.p99),
              insertRetries: s.insertRetries,
              bisections: s.bisections,
              commits: s.commits,
              commitFailures: s.commitFailures,
              bufferedRows: sink.bufferedRows(),
              clickhouseAvailable: s.clickhouseAvailable,
              paused: sink.isPaused(),
              outages: s.outages,
              outageMs: s.outageMsTotal + s.currentOutageMs(Date.now()),
            },
            'stats',
          );
        }, config.statsIntervalMs)
      : undefined;
  statsTimer?.unref();

  onShutdown(log, async () => {
    clearInterval(statsTimer);
    await sink.stop();
    await http?.close();
    await telemetry.shutdown();
  });
} catch (err) {
  crash(log, err, 'sink failed to start');
}
