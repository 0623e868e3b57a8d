// Every codec in and out of every consuming service, on the real broker and ClickHouse: events
// written by kcat (librdkafka, as a Java or C producer would) with gzip, snappy, lz4 and zstd —
// keyed and placed by Java's partitioner — are processed and archived exactly. The processor runs
// as three instances in turn, each writing its alerts and changelog with another codec and the
// next one restoring from what the last one wrote (killed mid-stream), so that the changelog and
// the alerts are read back in every codec the processor writes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { encodeEvent } from '@tradewatch/shared/events';
import { referenceAlerts } from './support/reference-rule.ts';
import { generateWorkload } from './support/workload.ts';
import {
  BROKERS,
  FAST_PROCESSOR_GROUP,
  clickhouse,
  clickhouseCommand,
  committedTotal,
  createTestTopology,
  deleteTestTopics,
  readTopicSettled,
  startService,
  testKafka,
  testPipeline,
  waitUntil,
  withAdmin,
  type RunningService,
} from './support/harness.ts';

const kafka = testKafka();
const pipeline = testPipeline('codecs');
const { database } = pipeline;
const env = { ...pipeline.env, ...FAST_PROCESSOR_GROUP, SINK_BATCH_MAX_WAIT_MS: '200' };
const services: RunningService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.kill()));
  await deleteTestTopics(kafka, pipeline.allTopics);
  await clickhouseCommand(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
});

const kcatProduce = (topic: string, codec: string, lines: string[]) =>
  execFileSync(
    'kcat',
    [
      '-P',
      '-b',
      BROKERS[0]!,
      '-t',
      topic,
      '-z',
      codec,
      '-K',
      '\t',
      '-X',
      'partitioner=murmur2_random',
      '-X',
      'linger.ms=20',
    ],
    { input: `${lines.join('\n')}\n`, maxBuffer: 1 << 28 },
  );

const committedProgress = async () => {
  const [done, ends] = await Promise.all([
    committedTotal(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    withAdmin(kafka, (admin) => admin.watermarks(env.EVENTS_TOPIC)),
  ]);
  return { done, end: ends.reduce((n, e) => n + e.high, 0) };
};

test('events written with gzip, snappy, lz4 and zstd are processed and archived exactly', async () => {
  await createTestTopology(
    kafka,
    { events: env.EVENTS_TOPIC, alerts: env.ALERTS_TOPIC },
    { eventsPartitions: 3 },
  );
  const events = generateWorkload({
    users: 150,
    events: 16000,
    seed: 47,
    takeoverRate: 0.05,
    duplicateRate: 0.02,
  });
  const expected = referenceAlerts(events)
    .map((a) => a.alertId)
    .sort();
  assert.ok(expected.length > 20, `the workload raises alerts (${expected.length})`);
  // Three processors in turn, each on a third of the events (written by kcat in all four codecs):
  // each writes alerts and changelog with its own codec and restores what the previous one wrote.
  const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
  const third = events.length / 3;
  for (const [i, codec] of ['lz4', 'zstd', 'snappy'].entries()) {
    const slice = events.slice(i * third, (i + 1) * third);
    const part = slice.length / codecs.length;
    codecs.forEach((eventCodec, j) =>
      kcatProduce(
        env.EVENTS_TOPIC,
        eventCodec,
        slice.slice(j * part, (j + 1) * part).map((e) => `${e.userId}\t${encodeEvent(e)}`),
      ),
    );
    const p = startService('processor', {
      ...env,
      PROCESSOR_COMPRESSION: codec,
      PROCESSOR_INSTANCE_ID: `p${i}`,
    });
    services.push(p);
    await waitUntil(
      `processor ${i} (${codec}) to catch up`,
      async () => {
        const { done, end } = await committedProgress();
        return done === end;
      },
      90000,
      200,
    );
    if (i > 0) {
      const restored = p
        .log()
        .split('\n')
        .filter((l) => /"partition restored"/.test(l) && !/"records":0[,}]/.test(l));
      assert.equal(restored.length, 3, `processor ${i} restored every partition from the changelog`);
    }
    await p.kill();
  }
  const alerts = await readTopicSettled(kafka, env.ALERTS_TOPIC, expected.length, 2000);
  const got = alerts.map((m) => decodeAlert(m.value!).alertId);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got.sort(), expected);

  // The sink archives the kcat events (every codec) and the processors' alerts (three codecs).
  services.push(startService('sink', env));
  const distinctEvents = new Set(events.map((e) => e.eventId)).size;
  const count = async (sql: string) =>
    Number((await clickhouse<{ n: string }>(sql).catch(() => [{ n: '0' }]))[0]?.n ?? 0);
  await waitUntil(
    'the archive to hold every event and alert',
    async () =>
      (await count(`SELECT count() AS n FROM ${database}.events FINAL`)) === distinctEvents &&
      (await count(`SELECT count() AS n FROM ${database}.alerts FINAL`)) === expected.length,
    90000,
    500,
  );
  const archived = await clickhouse<{ alertId: string }>(`SELECT alertId FROM ${database}.alerts FINAL`);
  assert.deepEqual(archived.map((r) => r.alertId).sort(), expected);
  assert.equal(await count(`SELECT uniqExact(eventId) AS n FROM ${database}.events FINAL`), distinctEvents);
});
