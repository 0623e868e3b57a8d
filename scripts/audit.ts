// `npm run audit -- --from <ts> --to <ts> [--json]`: reconciles, for the events the gateway
// received in the window (whole minutes, UTC), what each stage holds: the gateway's per-minute
// accepted counts (Redis), the events topic, the processors' committed offsets, the events
// archive, the alerts topic and the alerts archive; prints one table and exits 1 when anything
// is lost (a difference that data still in flight does not explain), 2 on bad arguments.
// Reads the same environment variables as the services (topics, groups, ClickHouse, Redis).
import { parseArgs } from 'node:util';
import { ACCEPTED_BUCKET_MS, acceptedCountKey, bucketsBetween } from '@tradewatch/shared/accepted-counts';
import { decodeAlertRecord } from '@tradewatch/shared/alerts';
import { createClickHouse, isSqlIdentifier, queryRows, sqlTable } from '@tradewatch/shared/clickhouse';
import { EnvReader } from '@tradewatch/shared/config';
import { decodeEventRecord } from '@tradewatch/shared/event-records';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { ConsumedRecord, KafkaClient } from '@tradewatch/shared/kafka-port';
import { createLogger } from '@tradewatch/shared/logger';
import { formatAudit, reconcile, type TopicAlert, type TopicEvent } from '@tradewatch/shared/loss-audit';
import { DEFAULT_ALERTS_TOPIC, DEFAULT_EVENTS_TOPIC } from '@tradewatch/shared/topology';
// The gateway's own Redis adapter: the counts are the gateway's record.
import { createRedis } from '../services/gateway/src/redis.ts';

const usage = 'usage: npm run audit -- --from <RFC 3339 or epoch ms> --to <RFC 3339 or epoch ms> [--json]';
const fail = (message: string, code = 2): never => {
  process.stderr.write(`audit: ${message}\n${usage}\n`);
  process.exit(code);
};

const parseTime = (name: string, text: string | undefined): number => {
  if (text === undefined) return fail(`--${name} is required`);
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) return fail(`--${name} ${JSON.stringify(text)} is not a time`);
  return ms;
};

const { values } = parseArgs({
  options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean', default: false } },
});
// Whole minutes, widened: the gateway counts accepted events per minute of receipt.
const from = Math.floor(parseTime('from', values.from) / ACCEPTED_BUCKET_MS) * ACCEPTED_BUCKET_MS;
const to = Math.ceil(parseTime('to', values.to) / ACCEPTED_BUCKET_MS) * ACCEPTED_BUCKET_MS;
if (to <= from) fail('--to must be after --from');

const r = new EnvReader(process.env);
const database = r.string('CLICKHOUSE_DATABASE', 'tradewatch');
if (!isSqlIdentifier(database))
  r.problem(`CLICKHOUSE_DATABASE=${JSON.stringify(database)} must be letters, digits and _`);
const config = r.finish('audit', {
  kafkaBrokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
  eventsTopic: r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC),
  alertsTopic: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
  processorGroupId: r.string('PROCESSOR_GROUP_ID', 'tradewatch-processor'),
  sinkGroupId: r.string('SINK_GROUP_ID', 'tradewatch-sink'),
  clickhouseUrl: r.url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:']),
  clickhouseUser: r.optionalString('CLICKHOUSE_USER'),
  clickhousePassword: r.optionalString('CLICKHOUSE_PASSWORD'),
  database,
  redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']).toString(),
  redisKeyPrefix: r.string('GATEWAY_REDIS_KEY_PREFIX', 'tw:gateway:'),
});

const log = createLogger('audit', 'error');
const kafka = createKafkaClient({ brokers: config.kafkaBrokers, clientId: 'tradewatch-audit', logger: log });
const admin = kafka.admin();
const redis = createRedis({ url: config.redisUrl, logger: log, commandTimeoutMs: 10000 });
const clickhouse = createClickHouse({
  url: config.clickhouseUrl,
  username: config.clickhouseUser,
  password: config.clickhousePassword,
  requestTimeoutMs: 60000,
  application: 'tradewatch-audit',
});

/** Every committed record of the topic, from its log start to its last stable offset. */
const readWholeTopic = async (
  client: KafkaClient,
  topic: string,
  onRecord: (partition: number, record: ConsumedRecord) => void,
): Promise<void> => {
  const marks = (await admin.watermarks(topic)).filter((w) => w.high > w.low);
  if (marks.length === 0) return;
  const reader = client.partitionReader({ maxWaitMs: 100 });
  const left = new Map(marks.map((w) => [w.partition, w.high]));
  try {
    await Promise.race([
      reader.failed,
      new Promise<void>((resolve) => {
        reader.start((batch) => {
          const end = left.get(batch.partition);
          if (end === undefined) return;
          for (const rec of batch.records) if (rec.offset < end) onRecord(batch.partition, rec);
          if (batch.nextOffset >= end) {
            left.delete(batch.partition);
            reader.unassign({ topic, partition: batch.partition });
            if (left.size === 0) resolve();
          }
        });
        for (const w of marks) reader.assign({ topic, partition: w.partition }, w.low);
      }),
    ]);
  } finally {
    await reader.close();
  }
};

try {
  await redis.connect();
  const counts = await redis.mget(
    bucketsBetween(from, to).map((b) => acceptedCountKey(config.redisKeyPrefix, 'live', b)),
  );
  const accepted = counts.reduce((n, c) => n + (c === null ? 0 : Number(c)), 0);

  const topicEvents: TopicEvent[] = [];
  const seen = new Set<string>();
  let topicCopies = 0;
  await readWholeTopic(kafka, config.eventsTopic, (partition, rec) => {
    const d = decodeEventRecord(rec.key, rec.value);
    if (!d.ok || d.event.receivedAt < from || d.event.receivedAt >= to) return;
    if (seen.has(d.event.eventId)) {
      topicCopies++;
      return;
    }
    seen.add(d.event.eventId);
    topicEvents.push({ eventId: d.event.eventId, partition, offset: rec.offset });
  });

  const topicAlerts: TopicAlert[] = [];
  await readWholeTopic(kafka, config.alertsTopic, (partition, rec) => {
    const d = decodeAlertRecord(rec.value);
    if (d.ok && seen.has(d.alert.tradeEventId)) {
      topicAlerts.push({
        alertId: d.alert.alertId,
        tradeEventId: d.alert.tradeEventId,
        partition,
        offset: rec.offset,
      });
    }
  });

  const [processorCommitted, sinkEventsCommitted, sinkAlertsCommitted] = await Promise.all([
    admin.committedOffsets(config.processorGroupId, config.eventsTopic),
    admin.committedOffsets(config.sinkGroupId, config.eventsTopic),
    admin.committedOffsets(config.sinkGroupId, config.alertsTopic),
  ]);

  const archivedEvents = new Set(
    (
      await queryRows<{ eventId: string }>(
        clickhouse,
        `SELECT eventId FROM ${sqlTable(config.database, 'events')} FINAL WHERE receivedAtMs >= ${from} AND receivedAtMs < ${to}`,
      )
    ).map((row) => row.eventId),
  );
  // An alert is detected after its trade was received: alerts detected before the window cannot be its.
  const archivedAlerts = new Set(
    (
      await queryRows<{ alertId: string }>(
        clickhouse,
        `SELECT alertId FROM ${sqlTable(config.database, 'alerts')} FINAL WHERE detectedAtMs >= ${from}`,
      )
    ).map((row) => row.alertId),
  );

  const result = reconcile({
    accepted,
    topicEvents,
    topicCopies,
    processorCommitted,
    sinkEventsCommitted,
    archivedEvents,
    topicAlerts,
    sinkAlertsCommitted,
    archivedAlerts,
  });
  process.stdout.write(
    values.json ? `${JSON.stringify({ from, to, ...result })}\n` : formatAudit(result, { from, to }),
  );
  process.exitCode = result.ok ? 0 : 1;
} catch (err) {
  process.stderr.write(`audit: failed: ${(err as Error).message}\n`);
  process.exitCode = 3;
} finally {
  await admin.close();
  redis.disconnect();
  await clickhouse.close();
}
