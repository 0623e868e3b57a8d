// GET /v1/events/:eventId on the real Kafka, Redis and ClickHouse, with the gateway wired as in
// production. The processors and the sink are stood in for by what they leave behind — their
// consumer groups' committed offsets (set with the admin client) and rows in an archive database
// of this test — so that each answer can be brought about on purpose.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId, RULE_ID } from '@tradewatch/shared/alerts';
import { runStatement, sqlLiteral } from '@tradewatch/shared/clickhouse';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { startGateway } from '../src/gateway.ts';
import { IT_HEADERS, gatewayConfig } from './support/infra.ts';
import {
  CLICKHOUSE_URL,
  createTestTopology,
  deleteTestTopics,
  freePort,
  testClickHouse,
  testKafka,
  testLogger,
  uniqueName,
} from '../../../test/support/harness.ts';

const id = uniqueName('gateway-status');
const database = id.replace(/-/g, '_');
const eventsTopic = `${id}-events`;
const alertsTopic = `${id}-alerts`;
const env = {
  EVENTS_TOPIC: eventsTopic,
  ALERTS_TOPIC: alertsTopic,
  PROCESSOR_GROUP_ID: `${id}-processor`,
  SINK_GROUP_ID: `${id}-sink`,
  CLICKHOUSE_URL,
  CLICKHOUSE_DATABASE: database,
};
const clickhouse = testClickHouse();
const kafka = testKafka();
const admin = kafka.admin();

after(async () => {
  await admin.close();
  await runStatement(clickhouse, `DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
  await clickhouse.close();
  await deleteTestTopics(kafka, [eventsTopic, alertsTopic]);
});

/** The columns the status endpoint reads, keyed like the sink's tables (userId first). */
const createArchive = async () => {
  await runStatement(clickhouse, `CREATE DATABASE IF NOT EXISTS ${database}`);
  for (const [table, idColumn] of [
    ['events', 'eventId'],
    ['alerts', 'alertId'],
  ] as const) {
    await runStatement(
      clickhouse,
      `CREATE TABLE ${database}.${table} (userId String, ${idColumn} String, archivedAt DateTime('UTC')) ` +
        `ENGINE = MergeTree ORDER BY (userId, ${idColumn})`,
    );
  }
};
const archive = (table: 'events' | 'alerts', idColumn: string, userId: string, value: string, at: number) =>
  runStatement(
    clickhouse,
    `INSERT INTO ${database}.${table} (userId, ${idColumn}, archivedAt) VALUES ` +
      `(${sqlLiteral(userId)}, ${sqlLiteral(value)}, ${Math.floor(at / 1000)})`,
  );

const commit = (groupId: string, topic: string, partition: number, offset: number) =>
  admin.setCommittedOffsets(groupId, [{ topic, partition, offset }]);

interface Status {
  accepted: { partition: number; offset: number };
  processed: Record<string, unknown>;
  archived: Record<string, unknown>;
}

test(
  'accepted → processed (lag, flagged or not, with the alert id) → archived, from the real sources',
  { timeout: 90_000 },
  async () => {
    await createTestTopology(kafka, { events: eventsTopic, alerts: alertsTopic }, { eventsPartitions: 3 });
    await createArchive();
    const g = await startGateway(gatewayConfig(env), testLogger('gateway-it'));
    try {
      const status = async (eventId: string) => {
        const res = await g.app.inject({ method: 'GET', url: `/v1/events/${eventId}`, headers: IT_HEADERS });
        assert.equal(res.statusCode, 200, res.body);
        return res.json<Status>();
      };
      const ts = Date.now();
      const events = [
        { eventId: `${id}-l1`, type: 'login', userId: 'ivy', ts, ip: '::ffff:203.0.113.10' },
        { eventId: `${id}-t1`, type: 'trade', userId: 'ivy', ts, amount: 10 },
        { eventId: `${id}-t2`, type: 'trade', userId: 'ivy', ts, amount: 5000 },
      ];
      const res = await g.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: IT_HEADERS,
        payload: JSON.stringify({ events }),
      });
      assert.equal(res.statusCode, 202, res.body);

      const t1 = await status(`${id}-t1`);
      const { partition, offset } = t1.accepted;
      assert.equal(partition, partitionForKey('ivy', 3));
      assert.deepEqual(t1.processed, { state: 'pending', committedOffset: null, lag: offset + 1 });
      assert.deepEqual(t1.archived, { state: 'pending' });

      // The processors committed past the login only.
      await commit(env.PROCESSOR_GROUP_ID, eventsTopic, partition, offset);
      assert.deepEqual((await status(`${id}-t1`)).processed, {
        state: 'pending',
        committedOffset: offset,
        lag: 1,
      });
      assert.deepEqual((await status(`${id}-l1`)).processed, {
        state: 'done',
        committedOffset: offset,
        flagged: false,
        alertId: null,
      });

      // Alerts of other trades are on ivy's alerts partition, not yet archived by the sink.
      const alertsPartition = partitionForKey('ivy', 3);
      const producer = kafka.producer();
      await producer.send(
        ['a', 'b'].map((v) => ({ topic: alertsTopic, key: 'ivy', value: v, partition: alertsPartition })),
      );
      await producer.close();
      await commit(env.PROCESSOR_GROUP_ID, eventsTopic, partition, offset + 2);
      assert.deepEqual((await status(`${id}-t1`)).processed, {
        state: 'done',
        committedOffset: offset + 2,
        flagged: null,
        alertId: null,
      });
      // The sink catches up with what was on the partition when t1 was first seen processed.
      await commit(env.SINK_GROUP_ID, alertsTopic, alertsPartition, 2);
      assert.deepEqual((await status(`${id}-t1`)).processed, {
        state: 'done',
        committedOffset: offset + 2,
        flagged: false,
        alertId: null,
      });

      // t2 raised an alert, and it is archived; so is the event.
      const alertId = deriveAlertId(RULE_ID, `${id}-t2`);
      await archive('alerts', 'alertId', 'ivy', alertId, ts);
      await archive('events', 'eventId', 'ivy', `${id}-t2`, 1_795_608_000_000);
      const t2 = await status(`${id}-t2`);
      assert.deepEqual(t2.processed, { state: 'done', committedOffset: offset + 2, flagged: true, alertId });
      assert.deepEqual(t2.archived, { state: 'done', archivedAt: 1_795_608_000_000 });
    } finally {
      await g.stop();
    }
  },
);

test('ClickHouse unreachable: archived is unknown, the rest is answered', { timeout: 60_000 }, async () => {
  const g = await startGateway(
    gatewayConfig({ ...env, CLICKHOUSE_URL: `http://127.0.0.1:${await freePort()}` }),
    testLogger('gateway-it'),
  );
  try {
    const ev = { eventId: `${id}-t9`, type: 'trade', userId: 'zoe', ts: Date.now(), amount: 3 };
    const res = await g.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: IT_HEADERS,
      payload: JSON.stringify(ev),
    });
    assert.equal(res.statusCode, 202);
    const s = (
      await g.app.inject({ method: 'GET', url: `/v1/events/${ev.eventId}`, headers: IT_HEADERS })
    ).json<Status>();
    assert.equal(s.processed.state, 'pending');
    assert.equal(s.archived.state, 'unknown');
    assert.match(String(s.archived.reason), /ClickHouse/);
  } finally {
    await g.stop();
  }
});
