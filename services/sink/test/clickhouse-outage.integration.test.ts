// ClickHouse stopped in the middle of a run (longer than the consumer session timeout), records
// of every archived topic arriving meanwhile, then started again: the sink pauses, retries with
// backoff, keeps its partitions, and catches up with nothing lost and nothing doubled.
//
// The ClickHouse this test stops is its own (PrivateClickHouse: its own data directory and
// ports), never the shared local server other tests use.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { loadSinkConfig } from '../src/config.ts';
import { startSink } from '../src/start-sink.ts';
import {
  alertMessage,
  cleanUp,
  countRows,
  createSinkTopics,
  eventMessage,
  labelMessage,
  makeAlert,
  makeEvents,
  makeLabels,
  produceTransactional,
  sinkEnv,
  uniqueNames,
} from './fixtures.ts';
import {
  PrivateClickHouse,
  produce,
  testClickHouse,
  testKafka,
  testLogger,
  waitUntil,
} from '../../../test/support/harness.ts';

const log = testLogger('sink-outage-it');
const kafka = testKafka({ logger: log });
let admin: KafkaAdmin;

before(() => {
  admin = kafka.admin();
});
after(async () => {
  await admin.close();
});

test('ClickHouse down for a while: the sink pauses, retries, and catches up exactly', async (t) => {
  const n = uniqueNames('outage');
  const clickhouse = await PrivateClickHouse.start();
  const client = testClickHouse(clickhouse.url);
  t.after(async () => {
    await cleanUp(admin, client, n).catch(() => undefined);
    await client.close();
    await clickhouse.destroy();
  });
  await createSinkTopics(kafka, n);
  const sink = await startSink(
    loadSinkConfig(
      sinkEnv(n, {
        CLICKHOUSE_URL: clickhouse.url,
        SINK_SESSION_TIMEOUT_MS: '6000',
        SINK_HEARTBEAT_INTERVAL_MS: '1000',
        SINK_RETRY_MAX_MS: '2000',
      }),
    ),
    log,
  );
  /** The group's committed offset of every partition of the archived topics. */
  const committed = async () =>
    (
      await Promise.all(
        [n.eventsTopic, n.alertsTopic, n.labelsTopic].map(async (topic) =>
          [...(await admin.committedOffsets(n.groupId, topic))].map(([partition, offset]) => ({
            topic,
            partition,
            offset,
          })),
        ),
      )
    )
      .flat()
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  let down = false;
  try {
    const before = makeEvents(20000, { prefix: `${n.suffix}-a` });
    await produce(kafka, n.eventsTopic, before.map(eventMessage));
    await waitUntil(
      'the first events archived',
      async () => {
        const v = await (() => countRows(client, n.database, 'events'))();
        return ((c) => c.final === before.length)(v) ? v : undefined;
      },
      60000,
      100,
    );
    const offsetsBefore = await waitUntil(
      'their offsets committed',
      async () => {
        const v = await committed();
        return ((offsets) =>
          offsets
            .filter((o) => o.topic === n.eventsTopic)
            .reduce((sum, o) => sum + Math.max(o.offset, 0), 0) === before.length)(v)
          ? v
          : undefined;
      },
      60000,
      100,
    );

    await clickhouse.down();
    down = true;

    const during = makeEvents(30000, { prefix: `${n.suffix}-b` });
    const alerts = Array.from({ length: 100 }, (_, i) => makeAlert(i));
    const labels = makeLabels(alerts.map((a) => a.alertId));
    await produce(kafka, n.eventsTopic, during.map(eventMessage));
    await produceTransactional(kafka, n.alertsTopic, alerts.map(alertMessage), {
      transactionalId: `${n.suffix}-a`,
    });
    await produce(kafka, n.labelsTopic, labels.map(labelMessage));
    // Reported (paused, retrying) and held down past the session timeout: heartbeats must go on.
    await waitUntil(
      'the sink to pause and retry',
      async () => {
        const v = await (() =>
          Promise.resolve({
            paused: sink.isPaused(),
            retries: sink.stats.insertRetries,
            up: sink.stats.clickhouseAvailable,
          }))();
        return ((s) => s.paused && !s.up && s.retries >= 3)(v) ? v : undefined;
      },
      30000,
      100,
    );
    await waitUntil(
      'an outage longer than the session timeout',
      async () => {
        const v = await (() => Promise.resolve(sink.stats.currentOutageMs(Date.now())))();
        return ((ms) => ms > 8000)(v) ? v : undefined;
      },
      30000,
      100,
    );
    const retriesDuringOutage = sink.stats.insertRetries;
    // Offsets move only after an insert: nothing fetched during the outage is committed.
    assert.deepEqual(await committed(), offsetsBefore);

    await clickhouse.up();
    down = false;
    const total = before.length + during.length;
    const counts = await waitUntil(
      'catching up after ClickHouse returned',
      async () => {
        const v = await (async () => ({
          events: await countRows(client, n.database, 'events'),
          alerts: await countRows(client, n.database, 'alerts'),
          labels: await countRows(client, n.database, 'alert_labels'),
        }))();
        return ((c) =>
          c.events.final === total && c.alerts.final === alerts.length && c.labels.final === labels.length)(v)
          ? v
          : undefined;
      },
      120000,
      100,
    );
    assert.ok(counts.events.raw >= total);
    assert.ok(counts.labels.raw >= labels.length);
    assert.equal(sink.isPaused(), false);
    assert.equal(sink.stats.clickhouseAvailable, true);
    assert.equal(sink.stats.outages, 1);
    assert.ok(sink.stats.outageMsTotal > 8000);
    // Backoff, not a busy loop: a handful of retries per failing partition, not thousands.
    assert.ok(retriesDuringOutage < 200, `retries ${retriesDuringOutage}`);
    // The group kept its partitions through the outage: nothing was dropped for a rebalance.
    assert.equal(sink.stats.abandonedBatches, 0);
    log.info({ counts, stats: sink.stats }, 'outage test counts');
  } finally {
    if (down) await clickhouse.up();
    await sink.stop();
  }
});
