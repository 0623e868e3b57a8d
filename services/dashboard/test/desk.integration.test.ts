// The desk on the real broker and ClickHouse, with the real sink archiving: a page of alerts and
// the stream opened from its cursor give exactly the committed alerts — never an aborted one,
// none twice — also across a restart of the desk, resumed from the browser's Last-Event-ID; and
// a label goes to the labels topic, is archived by the sink, and comes back with the alert after
// a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { deriveAlertId, RULE_ID, type Alert } from '@tradewatch/shared/alerts';
import { createClickHouse, runStatement, sqlIdentifier } from '@tradewatch/shared/clickhouse';
import type { AlertLabel } from '@tradewatch/shared/labels';
import {
  CLICKHOUSE_URL,
  BROKERS,
  clickhouse,
  createTestTopology,
  deleteTestTopics,
  startService,
  testKafka,
  testLogger,
  uniqueName,
  waitUntil,
} from '../../../test/support/harness.ts';
import { startAlertFeed, type RunningFeed } from '../src/alert-feed.ts';
import type { AlertsPage, DeskAlert } from '../src/api-types.ts';
import { buildDeskApp } from '../src/app.ts';
import { ClickHouseDeskArchive } from '../src/desk-archive.ts';
import { KafkaLabelPublisher } from '../src/label-publisher.ts';
import { parseUsers } from '../src/users.ts';
import { BacktestJobs } from '../src/backtest-jobs.ts';
import { MemoryRules, sseEvents } from './support/desk-ports.ts';

const AUTH = { authorization: 'Bearer analyst-token-1' };
const PARTITIONS = 3;

const alertOf = (tradeEventId: string, userId: string): Alert => ({
  alertId: deriveAlertId(RULE_ID, tradeEventId),
  rule: RULE_ID,
  ruleVersion: 1,
  userId,
  tradeEventId,
  tradeTs: Date.now(),
  amount: 5000,
  baseline: 100,
  factor: 50,
  ip: '203.0.113.77',
  knownIps: ['198.51.100.7'],
  previousTrades: 20,
  gameServerId: 'it-desk',
  detectedAt: Date.now(),
});

test('page + stream = exactly the committed alerts, across a desk restart; labels archived and reloaded', async (t) => {
  const suffix = uniqueName('it-desk');
  const names = {
    events: `${suffix}.events`,
    alerts: `${suffix}.alerts`,
    labels: `${suffix}.labels`,
    // The sink reads these too: topics of the test's own, never the product's default names.
    shadowAlerts: `${suffix}.alerts.shadow`,
    rules: `${suffix}.rules`,
    dead: `${suffix}.dead-letters`,
    db: `it_desk_${suffix.replace(/[^A-Za-z0-9]/g, '_')}`,
  };
  const kafka = testKafka();
  const log = testLogger('it-desk');
  await createTestTopology(
    kafka,
    { events: names.events, alerts: names.alerts, labels: names.labels },
    { eventsPartitions: PARTITIONS },
  );
  const ch = createClickHouse({ url: CLICKHOUSE_URL, application: 'it-desk' });
  const sink = startService('sink', {
    KAFKA_BROKERS: BROKERS.join(','),
    CLICKHOUSE_URL,
    CLICKHOUSE_DATABASE: names.db,
    EVENTS_TOPIC: names.events,
    ALERTS_TOPIC: names.alerts,
    LABELS_TOPIC: names.labels,
    SHADOW_ALERTS_TOPIC: names.shadowAlerts,
    RULES_TOPIC: names.rules,
    DEAD_LETTER_TOPIC: names.dead,
    SINK_GROUP_ID: `${suffix}-sink`,
    SINK_BATCH_MAX_WAIT_MS: '100',
    LOG_LEVEL: 'warn',
  });
  t.after(async () => {
    sink.child.kill('SIGCONT'); // if a failure left it paused
    await sink.stop();
    await deleteTestTopics(
      kafka,
      Object.values(names).filter((n) => n !== names.db),
    );
    await runStatement(ch, `DROP DATABASE IF EXISTS ${sqlIdentifier(names.db)}`);
    await ch.close();
  });

  // The desk, started (and restarted) in this process on the real feed, archive and producer.
  const labels = new KafkaLabelPublisher(kafka, names.labels);
  const admin = kafka.admin();
  t.after(async () => {
    await labels.close();
    await admin.close();
  });
  const startDesk = async (): Promise<{ app: FastifyInstance; feed: RunningFeed; base: string }> => {
    const feed = await startAlertFeed({
      kafka,
      admin,
      log,
      alertsTopic: names.alerts,
      labelsTopic: names.labels,
      capacity: 10000,
    });
    const app = await buildDeskApp({
      log,
      users: parseUsers('ana:analyst:analyst-token-1'),
      sessionSecret: Buffer.alloc(32, 1),
      sessionTtlMs: 60000,
      secureCookies: false,
      maxPageSize: 10000,
      feed: feed.feed,
      archive: new ClickHouseDeskArchive(ch, names.db),
      labels,
      states: { locate: () => Promise.reject(new Error('not used here')) },
      rates: { points: () => [] },
      rules: new MemoryRules(),
      backtests: new BacktestJobs(() => Promise.reject(new Error('not used here')), log),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, feed, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
  };
  const stopDesk = async (d: { app: FastifyInstance; feed: RunningFeed }) => {
    d.app.server.closeAllConnections();
    await d.app.close();
    await d.feed.stop();
  };

  // Alerts as the processor writes them: in transactions, some of which abort.
  const producer = kafka.transactionalProducer({
    transactionalId: `${suffix}-tx`,
    transactionTimeoutMs: 30000,
  });
  await producer.init();
  t.after(() => producer.close());
  const committed: string[] = [];
  const aborted = new Set<string>();
  let n = 0;
  const writeBatch = async (count: number, abort: boolean) => {
    await producer.begin();
    const batch = Array.from({ length: count }, () => alertOf(`${suffix}-t${n++}`, `u${n % 17}`));
    await producer.send(batch.map((a) => ({ topic: names.alerts, key: a.userId, value: JSON.stringify(a) })));
    if (abort) {
      await producer.abort();
      for (const a of batch) aborted.add(a.alertId);
    } else {
      await producer.commit();
      committed.push(...batch.map((a) => a.alertId));
    }
  };
  const writeMany = async (batches: number) => {
    for (let i = 0; i < batches; i++) await writeBatch(10, i % 4 === 3);
  };
  const archivedCount = async () =>
    Number(
      (
        await clickhouse<{ n: string }>(`SELECT count() AS n FROM ${names.db}.alerts FINAL`).catch(() => [
          { n: '0' },
        ])
      )[0]?.n ?? 0,
    );

  await writeMany(8); // 60 committed, 20 aborted
  const first = committed.length;
  await waitUntil(
    'the sink to archive the first alerts',
    async () => (await archivedCount()) === first,
    60000,
  );
  // More alerts the archive has not caught up with when the page is read: the sink is paused.
  sink.child.kill('SIGSTOP');
  await writeMany(4);
  let desk = await startDesk();
  // Whichever desk runs when the test ends (a failed assertion included) is stopped, or its feed
  // would keep the file from exiting.
  // (Stopping one already stopped does nothing.)
  t.after(() => stopDesk(desk).catch(() => undefined));
  // The feed reads the alerts past the archive's end on its own time after it starts (a page read
  // before that is still continued exactly by the stream from its cursor); the page is read once
  // it holds them, so that it has to merge the archive with the feed.
  await waitUntil(
    'the feed to hold every committed alert',
    () => desk.feed.feed.heldAlerts(() => true).length >= committed.length,
    30000,
    50,
  );
  const page = (await (
    await fetch(`${desk.base}/api/alerts?limit=10000`, { headers: AUTH })
  ).json()) as AlertsPage;
  sink.child.kill('SIGCONT');
  const seen: string[] = page.alerts.map((a) => a.alertId);
  assert.equal(seen.length, committed.length, 'the page holds the archive and what the feed read past it');

  const readStream = async (base: string, headers: Record<string, string>, url: string, until: number) => {
    const ac = new AbortController();
    const res = await fetch(url, { headers: { ...AUTH, ...headers }, signal: ac.signal });
    assert.equal(res.status, 200);
    const got: string[] = [];
    let last: string | undefined;
    const timer = setTimeout(() => ac.abort(), 30000);
    try {
      for await (const ev of sseEvents(res)) {
        if (ev.event !== 'alert') continue;
        got.push((JSON.parse(ev.data) as DeskAlert).alertId);
        last = ev.id;
        if (seen.length + got.length >= until) break;
      }
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    return { got, last: last! };
  };
  const cursorUrl = `${desk.base}/api/alerts/stream?cursor=${encodeURIComponent(page.cursor)}`;
  const live = readStream(desk.base, {}, cursorUrl, committed.length + 30);
  await writeMany(4);
  const a = await live;
  seen.push(...a.got);

  // The browser is gone while the desk restarts and more alerts are committed.
  await stopDesk(desk);
  await writeMany(4);
  desk = await startDesk();
  const b = await readStream(
    desk.base,
    { 'last-event-id': a.last },
    `${desk.base}/api/alerts/stream?cursor=${encodeURIComponent(page.cursor)}`,
    committed.length,
  );
  seen.push(...b.got);
  assert.equal(new Set(seen).size, seen.length, 'no alert twice');
  assert.deepEqual([...seen].sort(), [...committed].sort(), 'exactly the committed alerts');
  assert.ok(!seen.some((id) => aborted.has(id)), 'no aborted alert');
  assert.ok(b.got.length >= 30, 'the resumed stream delivered what was committed while away');

  // A label: 201, on the topic, archived by the sink, and carried by the page after a restart.
  const target = committed[3]!;
  const res = await fetch(`${desk.base}/api/alerts/${target}/labels`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ label: 'confirmed_fraud', note: 'chargeback' }),
  });
  assert.equal(res.status, 201);
  const stored = (await res.json()) as AlertLabel;
  await waitUntil(
    'the label in alert_labels',
    async () =>
      (
        await clickhouse<{ author: string; label: string }>(
          `SELECT author, toString(label) AS label FROM ${names.db}.alert_labels FINAL WHERE alertId = '${target}'`,
        )
      ).some((r) => r.author === 'ana' && r.label === 'confirmed_fraud'),
    30000,
  );
  await stopDesk(desk);
  desk = await startDesk();
  const again = (await (
    await fetch(`${desk.base}/api/alerts?label=confirmed_fraud`, { headers: AUTH })
  ).json()) as AlertsPage;
  assert.deepEqual(
    again.alerts.map((x) => [x.alertId, x.labels]),
    [[target, [stored]]],
  );
  const unknown = await fetch(`${desk.base}/api/alerts/${[...aborted][0]}/labels`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ label: 'false_positive' }),
  });
  assert.equal(unknown.status, 404, 'an aborted alert does not exist');
});
