// The sink on the real Kafka and ClickHouse: everything archived exactly once (duplicates in the
// topic, aborted alert transactions, a second group re-reading every label), poisoned records to
// the dead-letter topic while the rest lands, exact values, alerts' Kafka coordinates, the latest
// label per alert, replay-proof aggregates, the analysts' queries, and idempotent migrations
// (run twice, interrupted, concurrent, over an archive that predates them).
// Each test has its own topics, group and database, and removes them.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  detectCapabilities,
  queryRows,
  runStatement,
  sqlString,
  sqlTable,
} from '@tradewatch/shared/clickhouse';
import { encodeEvent } from '@tradewatch/shared/events';
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { encodeLabel } from '@tradewatch/shared/labels';
import { EXAMPLE_QUERIES, findExample, renderExample } from '../src/analyst-queries.ts';
import { ArchiveWriter } from '../src/archive-writer.ts';
import { encodeAlertRow, encodeEventRow, encodeLabelRow } from '../src/archive-rows.ts';
import { loadSinkConfig } from '../src/config.ts';
import { migrate, readLedger } from '../src/migration-runner.ts';
import { MIGRATIONS } from '../src/migrations.ts';
import { startSink } from '../src/start-sink.ts';
import {
  alertMessage,
  AMOUNT_MICROS,
  assertAlertCoordinates,
  cleanUp,
  countRows,
  createSinkTopics,
  eventMessage,
  labelMessage,
  latestLabels,
  makeAlert,
  makeEvents,
  makeLabel,
  makeLabels,
  produceTransactional,
  readTopic,
  sinkEnv,
  uniqueNames,
} from './fixtures.ts';
import { produce, testClickHouse, testKafka, testLogger, waitUntil } from '../../../test/support/harness.ts';

const log = testLogger('sink-it');
const kafka = testKafka({ logger: log });
const client = testClickHouse();
let admin: KafkaAdmin;

before(() => {
  admin = kafka.admin();
});
after(async () => {
  await admin.close();
  await client.close();
});

test('archives every event and alert exactly once; poisoned records go to dead letters', async () => {
  const n = uniqueNames('once');
  await createSinkTopics(kafka, n);
  try {
    const events = makeEvents(6000, { prefix: n.suffix });
    // Replays in the topic itself: the same records again, as after a producer retry.
    const replayed = events.slice(1000, 1500);
    const poisoned = [
      { key: 'user-1', value: '{"not json' },
      { key: 'user-2', value: encodeEvent({ ...events[60]!, eventId: 'has spaces' }) },
      { key: 'someone-else', value: encodeEvent({ ...events[61]!, eventId: `${n.suffix}-wrong-key` }) },
    ];
    await produce(kafka, n.eventsTopic, [
      ...events.slice(0, 3000).map(eventMessage),
      ...poisoned,
      ...events.slice(3000).map(eventMessage),
      ...replayed.map(eventMessage),
    ]);
    const alerts = Array.from({ length: 40 }, (_, i) => makeAlert(i));
    const aborted = Array.from({ length: 10 }, (_, i) => makeAlert(1000 + i));
    await produceTransactional(kafka, n.alertsTopic, alerts.slice(0, 30).map(alertMessage), {
      transactionalId: `${n.suffix}-a`,
    });
    await produceTransactional(kafka, n.alertsTopic, aborted.map(alertMessage), {
      transactionalId: `${n.suffix}-b`,
      abort: true,
    });
    await produceTransactional(
      kafka,
      n.alertsTopic,
      [...alerts.slice(25).map(alertMessage), { key: 'u', value: '{"alertId":"x"}' }],
      {
        transactionalId: `${n.suffix}-c`,
      },
    );

    const sink = await startSink(loadSinkConfig(sinkEnv(n, { SINK_BATCH_MAX_ROWS: '700' })), log);
    try {
      const counts = await waitUntil(
        'all rows archived',
        async () => {
          const v = await (async () => ({
            events: await countRows(client, n.database, 'events'),
            alerts: await countRows(client, n.database, 'alerts'),
          }))();
          return ((c) => c.events.final === events.length && c.alerts.final === alerts.length)(v)
            ? v
            : undefined;
        },
        60000,
        100,
      );
      assert.ok(counts.events.raw >= events.length);
      const dead = await readTopic(kafka, n.deadLetterTopic, 4);
      assert.deepEqual(dead.map((d) => d.headers['tw-reason']).sort(), [
        'invalid_alert',
        'invalid_event',
        'key_mismatch',
        'not_json',
      ]);
      assert.ok(
        dead.every((d) => d.headers['tw-stage'] === 'sink' && d.headers['tw-source']!.startsWith('it-sink.')),
      );
      assert.equal(dead.find((d) => d.headers['tw-reason'] === 'not_json')?.value, '{"not json');

      // Aborted alerts are not archived; the committed ones are, with every field exact.
      const [abortedCount] = await queryRows<{ c: string }>(
        client,
        `SELECT count() AS c FROM ${sqlTable(n.database, 'alerts')} WHERE alertId IN (${aborted.map((a) => `'${a.alertId}'`).join(',')})`,
      );
      assert.equal(abortedCount?.c, '0');
      const a0 = alerts[7]!;
      const [row] = await queryRows<Record<string, unknown>>(
        client,
        `SELECT alertId, rule, ruleVersion, userId, tradeEventId, tradeTsMs, amountMicros, amount, baselineMicros, factor, ip,
           knownIps, previousTrades, gameServerId, detectedAtMs, toUnixTimestamp(toDateTime(tradeTs)) AS tradeTsSec
         FROM ${sqlTable(n.database, 'alerts')} FINAL WHERE alertId = '${a0.alertId}'`,
      );
      assert.deepEqual(row, {
        alertId: a0.alertId,
        rule: a0.rule,
        ruleVersion: a0.ruleVersion,
        userId: a0.userId,
        tradeEventId: a0.tradeEventId,
        tradeTsMs: String(a0.tradeTs),
        amountMicros: '1241560000',
        amount: 1241.56,
        baselineMicros: '100250000',
        factor: a0.factor,
        ip: a0.ip,
        knownIps: a0.knownIps,
        previousTrades: a0.previousTrades,
        gameServerId: a0.gameServerId,
        detectedAtMs: String(a0.detectedAt),
        tradeTsSec: Math.floor(a0.tradeTs / 1000),
      });

      // Money is exact: every amount arrives as its exact number of micro-units.
      const expected = new Map<string, number>();
      for (const e of events) {
        const micros = e.type === 'trade' ? AMOUNT_MICROS.get(e.amount)!.toString() : '0';
        expected.set(micros, (expected.get(micros) ?? 0) + 1);
      }
      const byAmount = await queryRows<{ amountMicros: string; n: string }>(
        client,
        `SELECT amountMicros, count() AS n FROM ${sqlTable(n.database, 'events')} FINAL GROUP BY amountMicros`,
      );
      assert.deepEqual(new Map(byAmount.map((r) => [r.amountMicros, Number(r.n)])), expected);
      const [ipv6] = await queryRows<{ n: string }>(
        client,
        `SELECT count() AS n FROM ${sqlTable(n.database, 'events')} FINAL WHERE ip = '2001:db8::1'`,
      );
      assert.equal(Number(ipv6?.n), events.filter((e) => e.ip === '2001:db8::1').length);

      // The dashboard aggregates count distinct ids, so the replayed records did not inflate them.
      const [agg] = await queryRows<{ events: string; alerts: string; flagged: string }>(
        client,
        `SELECT
           (SELECT sum(n) FROM (SELECT uniqCombinedMerge(events) AS n FROM ${sqlTable(n.database, 'events_per_minute')}
              GROUP BY minute, type, gameServerId)) AS events,
           (SELECT sum(n) FROM (SELECT uniqExactMerge(alerts) AS n FROM ${sqlTable(n.database, 'alerts_per_minute')}
              GROUP BY minute, rule, gameServerId)) AS alerts,
           (SELECT sum(n) FROM (SELECT uniqExactMerge(alerts) AS n FROM ${sqlTable(n.database, 'flagged_users')}
              GROUP BY userId)) AS flagged`,
      );
      assert.deepEqual(agg, {
        events: String(events.length),
        alerts: String(alerts.length),
        flagged: String(alerts.length),
      });
      assert.equal(sink.stats.deadLetters, 4);

      // 30 + 16 committed records (the 10 aborted are invisible): alerts 25-29 are there twice.
      await assertAlertCoordinates(client, n.database, await readTopic(kafka, n.alertsTopic, 46));
    } finally {
      await sink.stop();
    }
  } finally {
    await cleanUp(admin, client, n);
  }
});

test('archives every label record exactly once; the latest per alert wins; bad labels go to dead letters', async () => {
  const n = uniqueNames('labels');
  // No labels topic yet: the sink may start before the desk, and creates it.
  await createSinkTopics(kafka, n, { labels: false });
  try {
    const now = Date.now();
    const alertIds = Array.from({ length: 300 }, (_, i) => makeAlert(i).alertId);
    // 600 records: a third of the alerts labelled once, a third changed once, a third twice.
    // Plus two analysts' verdicts on one more alert in the same millisecond: two rows, not one.
    const tie = makeAlert(999).alertId;
    const labels = [
      ...makeLabels(alertIds, now),
      { ...makeLabel(tie, 0, now), author: 'analyst-a' },
      { ...makeLabel(tie, 0, now), author: 'analyst-b', label: 'false_positive' as const },
    ];
    // The desk publishing records again (a retried request): the same label twice on the topic.
    const duplicated = labels.slice(100, 160);
    const strayLabel = makeLabel(alertIds[2]!, 9, now);
    const bad = [
      { key: alertIds[0]!, value: '{"alertId": nope' },
      { key: alertIds[1]!, value: JSON.stringify({ ...makeLabel(alertIds[1]!, 9, now), label: 'fraud' }) },
      { key: 'some-other-alert', value: encodeLabel(strayLabel) },
    ];

    const config = loadSinkConfig(sinkEnv(n, { SINK_BATCH_MAX_ROWS: '100' }));
    const sink = await startSink(config, log);
    try {
      assert.equal(await admin.partitionCount(n.labelsTopic), 3);
      assert.equal((await admin.topicConfig(n.labelsTopic, ['retention.ms']))['retention.ms'], '-1');
      await produce(kafka, n.labelsTopic, [
        ...labels.slice(0, 300).map(labelMessage),
        ...bad,
        ...labels.slice(300).map(labelMessage),
        ...duplicated.map(labelMessage),
      ]);
      const counts = await waitUntil(
        'every label archived',
        async () => {
          const v = await (() => countRows(client, n.database, 'alert_labels'))();
          return ((c) => c.final === labels.length)(v) ? v : undefined;
        },
        60000,
        100,
      );
      assert.ok(counts.raw >= labels.length);
      const dead = await readTopic(kafka, n.deadLetterTopic, 3);
      assert.deepEqual(dead.map((d) => d.headers['tw-reason']).sort(), [
        'invalid_label',
        'key_mismatch',
        'not_json',
      ]);
      assert.ok(dead.every((d) => d.headers['tw-source']!.startsWith(`${n.labelsTopic}/`)));
      assert.equal(sink.stats.deadLetters, 3);
    } finally {
      await sink.stop();
    }

    // A replay of everything: another group reads the whole topic again into the same tables.
    const replay = await startSink(loadSinkConfig(sinkEnv(n, { SINK_GROUP_ID: `${n.groupId}-replay` })), log);
    try {
      await waitUntil(
        'the replay to archive every record again',
        async () => {
          const v = await (() => Promise.resolve(replay.stats.archived.labels))();
          return ((archived) => archived === labels.length + duplicated.length)(v) ? v : undefined;
        },
        60000,
        100,
      );
    } finally {
      await replay.stop();
    }
    assert.equal((await countRows(client, n.database, 'alert_labels')).final, labels.length);

    // The label in force per alert is the latest; every verdict stays as history. argMax needs
    // no FINAL (a replayed row has the same label and time), so both must agree.
    const perAlert = (final: string) =>
      queryRows<{ alertId: string; current: string; verdicts: string }>(
        client,
        `SELECT alertId, toString(argMax(label, labelledAtMs)) AS current, count() AS verdicts
         FROM ${sqlTable(n.database, 'alert_labels')} ${final} GROUP BY alertId`,
      );
    // (The tied alert's current label is either verdict: a tie has no latest.)
    const current = (rows: { alertId: string; current: string }[]) =>
      new Map(rows.filter((r) => r.alertId !== tie).map((r) => [r.alertId, r.current]));
    const latest = latestLabels(labels);
    latest.delete(tie);
    const final = await perAlert('FINAL');
    assert.deepEqual(current(final), latest);
    assert.deepEqual(
      new Map(final.map((r) => [r.alertId, Number(r.verdicts)])),
      new Map([...alertIds.map((id, i) => [id, 1 + (i % 3)] as const), [tie, 2]]),
    );
    assert.deepEqual(current(await perAlert('')), latest);

    // Every field exact, the stray label (wrong key) nowhere.
    const sample = labels.find((l) => l.note !== '')!;
    const [row] = await queryRows<Record<string, unknown>>(
      client,
      `SELECT alertId, label, note, author, labelledAtMs, toUnixTimestamp(toDateTime(labelledAt)) AS labelledAtSec,
         archivedAt > toDateTime('2020-01-01 00:00:00') AS hasArchivedAt
       FROM ${sqlTable(n.database, 'alert_labels')} FINAL
       WHERE alertId = ${sqlString(sample.alertId)} AND labelledAtMs = ${sample.labelledAt}`,
    );
    assert.deepEqual(row, {
      alertId: sample.alertId,
      label: sample.label,
      note: sample.note,
      author: sample.author,
      labelledAtMs: String(sample.labelledAt),
      labelledAtSec: Math.floor(sample.labelledAt / 1000),
      hasArchivedAt: 1,
    });
    const [stray] = await queryRows<{ c: string }>(
      client,
      `SELECT count() AS c FROM ${sqlTable(n.database, 'alert_labels')}
       WHERE alertId = ${sqlString(strayLabel.alertId)} AND labelledAtMs = ${strayLabel.labelledAt}`,
    );
    assert.equal(stray?.c, '0');
  } finally {
    await cleanUp(admin, client, n);
  }
});

test('the analysts’ example queries run on this server and find what they should', async () => {
  const n = uniqueNames('queries');
  try {
    await migrate(client, n.database, log);
    const now = Date.now();
    const events = makeEvents(300, { prefix: n.suffix, users: 10, now });
    // user-3's flagged trade and its neighbours.
    const alert = {
      ...makeAlert(3, now),
      userId: 'user-3',
      tradeEventId: events[13]!.eventId,
      tradeTs: events[13]!.ts,
    };
    const writer = new ArchiveWriter({ client });
    assert.deepEqual(
      await writer.insert(
        sqlTable(n.database, 'events'),
        events.map((e) => encodeEventRow(e)),
      ),
      [],
    );
    // Four more alerts with verdicts: one changed to false_positive, one confirmed, one under
    // review, one changed to confirmed; user-3's alert has none.
    const labelled = [10, 11, 12, 13].map((i) => makeAlert(i, now));
    const alertRows = [alert, ...labelled].map((a, i) => encodeAlertRow(a, { partition: 0, offset: i }));
    assert.deepEqual(await writer.insert(sqlTable(n.database, 'alerts'), alertRows), []);
    const verdict = (
      a: number,
      label: 'confirmed_fraud' | 'false_positive' | 'needs_review',
      at: number,
    ) => ({
      ...makeLabel(labelled[a]!.alertId, 0, now),
      label,
      labelledAt: now - 100000 + at,
    });
    const verdicts = [
      verdict(0, 'confirmed_fraud', 1),
      verdict(0, 'false_positive', 2),
      verdict(1, 'confirmed_fraud', 1),
      verdict(2, 'needs_review', 1),
      verdict(3, 'false_positive', 5),
      verdict(3, 'confirmed_fraud', 9),
    ];
    // Out of order and one twice: the latest by labelledAt wins, not the last inserted.
    const labelRows = [5, 0, 2, 1, 3, 4, 1].map((i) => encodeLabelRow(verdicts[i]!));
    assert.deepEqual(await writer.insert(sqlTable(n.database, 'alert_labels'), labelRows), []);

    for (const q of EXAMPLE_QUERIES) {
      const args = q.name === 'alerts-of-user' ? { user: 'user-3' } : {};
      const rows = await queryRows<Record<string, unknown>>(client, renderExample(q, n.database, args));
      assert.ok(Array.isArray(rows), q.name);
    }
    const around = await queryRows<{ eventId: string; isFlaggedTrade: number }>(
      client,
      renderExample(findExample('alerts-of-user')!, n.database, { user: 'user-3', minutes: '1' }),
    );
    assert.ok(around.length > 1);
    assert.deepEqual(
      around.filter((r) => Number(r.isFlaggedTrade) === 1).map((r) => r.eventId),
      [events[13]!.eventId],
    );
    const manyIps = await queryRows<{ userId: string; distinctIps: string }>(
      client,
      renderExample(findExample('users-many-ips')!, n.database, { minIps: '2' }),
    );
    assert.ok(manyIps.length > 0 && manyIps.every((r) => Number(r.distinctIps) >= 2));
    const largest = await queryRows<{ amount: number; timesMedian: number }>(
      client,
      renderExample(findExample('largest-trades-vs-median')!, n.database, { limit: '3' }),
    );
    assert.equal(largest.length, 3);
    assert.equal(largest[0]!.amount, 999999999999.99);
    const precision = await queryRows<Record<string, unknown>>(
      client,
      renderExample(findExample('precision-per-rule')!, n.database, {}),
    );
    assert.deepEqual(precision, [
      {
        rule: alert.rule,
        alerts: '5',
        confirmed: '2',
        falsePositive: '1',
        needsReview: '1',
        precision: 0.6667,
      },
    ]);
    const counts = await queryRows<{ tbl: string; rows: string }>(
      client,
      renderExample(findExample('archive-counts')!, n.database, {}),
    );
    assert.deepEqual(counts.map((c) => [c.tbl, Number(c.rows)]).sort(), [
      ['alert_labels', 6],
      ['alerts', 5],
      ['events', events.length],
    ]);
    // A value with quotes and backslashes reaches SQL text escaped, and matches nothing.
    const none = await queryRows(
      client,
      renderExample(findExample('alerts-of-user')!, n.database, { user: "user-3' OR '1'='1\\" }),
    );
    assert.deepEqual(none, []);
  } finally {
    await cleanUp(admin, client, n);
  }
});

test('sqlString literals read back exactly on this server', async () => {
  const nasty = [
    "O'Brien",
    'back\\slash\\',
    "\\'",
    'tab\tnew\nline\r',
    'nul\u0000byte',
    'ünï 🎮',
    "'; DROP DATABASE x; --",
    '\u0001\u007f',
  ];
  const rows = await queryRows<Record<string, string>>(
    client,
    `SELECT ${nasty.map((v, i) => `${sqlString(v)} AS s${i}`).join(', ')}`,
  );
  assert.deepEqual(Object.values(rows[0]!), nasty);
});

test('migrations run twice change nothing', async () => {
  const n = uniqueNames('migrate');
  const schema = () =>
    queryRows<{ name: string; create_table_query: string }>(
      client,
      `SELECT name, create_table_query FROM system.tables WHERE database = '${n.database}' ORDER BY name`,
    );
  try {
    const first = await migrate(client, n.database, log);
    assert.deepEqual(first.applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const ledger = await readLedger(client, n.database);
    const tables = await schema();
    assert.deepEqual(
      tables.map((t) => t.name),
      [
        'alert_labels',
        'alerts',
        'alerts_per_minute',
        'alerts_per_minute_mv',
        'alerts_shadow',
        'event_first_positions',
        'event_first_positions_mv',
        'events',
        'events_per_minute',
        'events_per_minute_mv',
        'flagged_users',
        'flagged_users_mv',
        'rule_versions',
        'schema_migrations',
      ],
    );
    const columns = await alertColumns(n.database);
    assert.deepEqual(columns.slice(-2), ['kafkaPartition UInt32', 'kafkaOffset UInt64']);
    const second = await migrate(client, n.database, log);
    assert.deepEqual(second.applied, []);
    assert.deepEqual(await readLedger(client, n.database), ledger);
    assert.deepEqual(await schema(), tables);
    assert.deepEqual(await alertColumns(n.database), columns);
    const [raw] = await queryRows<{ c: string }>(
      client,
      `SELECT count() AS c FROM ${sqlTable(n.database, 'schema_migrations')}`,
    );
    assert.equal(raw?.c, '11');
  } finally {
    await cleanUp(admin, client, n);
  }
});

/** The alerts table's ordinary columns as `name Type`, in order. */
const alertColumns = async (database: string): Promise<string[]> =>
  (
    await queryRows<{ name: string; type: string }>(
      client,
      `SELECT name, type FROM system.columns WHERE database = ${sqlString(database)} AND table = 'alerts'
       AND default_kind = ''`,
    )
  ).map((c) => `${c.name} ${c.type}`);

test('the coordinates migration over an older archive: interrupted, then run twice at once', async () => {
  const n = uniqueNames('upgrade');
  try {
    // An archive from before labels, with an alert in it.
    assert.deepEqual(
      (await migrate(client, n.database, log, MIGRATIONS.slice(0, 5))).applied,
      [1, 2, 3, 4, 5],
    );
    const old = makeAlert(1);
    const oldRow = encodeAlertRow(old, { partition: 0, offset: 0 }).replace(/,"kafkaPartition":.*\}$/, '}');
    assert.deepEqual(
      await new ArchiveWriter({ client }).insert(sqlTable(n.database, 'alerts'), [oldRow]),
      [],
    );

    // Interrupted after migration 6 and the first ALTER of 7: no ledger row for 7 yet.
    await migrate(client, n.database, log, MIGRATIONS.slice(0, 6));
    const ctx = { database: n.database, caps: await detectCapabilities(client) };
    const [firstAlter] = MIGRATIONS[6]!.statements(ctx);
    assert.ok(firstAlter !== undefined && typeof firstAlter !== 'string');
    await runStatement(client, firstAlter.sql);
    assert.ok((await alertColumns(n.database)).includes('kafkaPartition UInt32'));

    // Two sinks starting together finish it (and the later migrations); neither fails on the
    // column the other added.
    const [a, b] = await Promise.all([migrate(client, n.database, log), migrate(client, n.database, log)]);
    assert.deepEqual(
      [...new Set([...a.applied, ...b.applied])].sort((x, y) => x - y),
      [7, 8, 9, 10, 11],
    );
    assert.deepEqual((await alertColumns(n.database)).slice(-2), [
      'kafkaPartition UInt32',
      'kafkaOffset UInt64',
    ]);
    assert.deepEqual((await migrate(client, n.database, log)).applied, []);

    // The old row reads 0 / 0; a new one keeps its coordinates.
    const fresh = makeAlert(2);
    const writer = new ArchiveWriter({ client });
    assert.deepEqual(
      await writer.insert(sqlTable(n.database, 'alerts'), [
        encodeAlertRow(fresh, { partition: 2, offset: 77 }),
      ]),
      [],
    );
    const rows = await queryRows<{ alertId: string; kafkaPartition: number; kafkaOffset: string }>(
      client,
      `SELECT alertId, kafkaPartition, kafkaOffset FROM ${sqlTable(n.database, 'alerts')} FINAL ORDER BY kafkaOffset`,
    );
    assert.deepEqual(rows, [
      { alertId: old.alertId, kafkaPartition: 0, kafkaOffset: '0' },
      { alertId: fresh.alertId, kafkaPartition: 2, kafkaOffset: '77' },
    ]);
  } finally {
    await cleanUp(admin, client, n);
  }
});

test('rows ClickHouse rejects are isolated by bisection; the rest of the batch lands', async () => {
  const n = uniqueNames('bisect');
  try {
    await migrate(client, n.database, log);
    const rows = makeEvents(1000, { prefix: n.suffix }).map((e) => encodeEventRow(e));
    // Valid JSON, but not for these columns: the server, not our checks, refuses them.
    rows.splice(17, 0, rows[17]!.replace(/"tsMs":\d+/, '"tsMs":"yesterday"'));
    rows.splice(640, 0, rows[640]!.replace(/"type":"\w+"/, '"type":"refund"'));
    let splits = 0;
    const writer = new ArchiveWriter({ client, onBisect: () => splits++ });
    const rejected = await writer.insert(sqlTable(n.database, 'events'), rows);
    assert.deepEqual(
      rejected.map((r) => r.index),
      [17, 640],
    );
    assert.match(rejected[0]!.reason, /^Code: \d+/);
    assert.ok(splits > 0 && splits < 40, `splits ${splits}`);
    assert.equal((await countRows(client, n.database, 'events')).final, 1000);
  } finally {
    await cleanUp(admin, client, n);
  }
});
