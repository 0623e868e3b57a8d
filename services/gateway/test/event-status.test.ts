// GET /v1/events/:eventId through app.inject() with in-memory ports: what it answers at each
// point of an event's way through the pipeline, what it answers when a source is down, and that
// a game server sees only its own events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId, RULE_ID } from '@tradewatch/shared/alerts';
import { TradewatchError } from '@tradewatch/shared/errors';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import {
  AUTH,
  JSON_HEADERS,
  MemoryPublisher,
  NOW,
  SANDBOX_TOKEN,
  TOKEN_B,
  buildTestApp,
  login,
  trade,
} from './support/memory-ports.ts';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
const send = (app: App, body: unknown, headers: Record<string, string> = JSON_HEADERS) =>
  app.inject({ method: 'POST', url: '/v1/events', headers, payload: JSON.stringify(body) });
const status = (app: App, eventId: string, headers: Record<string, string> = AUTH) =>
  app.inject({ method: 'GET', url: `/v1/events/${encodeURIComponent(eventId)}`, headers });

const PARTITION = partitionForKey('user-1', MemoryPublisher.PARTITIONS);

test('an accepted event: where Kafka wrote it, how far behind the processors are, not archived yet', async () => {
  const { app, pipeline } = await buildTestApp();
  const events = [login(1), trade(1), trade(2)];
  assert.equal((await send(app, { events })).statusCode, 202);
  pipeline.processors.set(PARTITION, 1); // the login (offset 0) is processed, the trades are not
  const res = await status(app, 'trade-2');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    eventId: 'trade-2',
    type: 'trade',
    userId: 'user-1',
    sandbox: false,
    accepted: { receivedAt: NOW, topic: 'game-events', partition: PARTITION, offset: 2 },
    processed: { state: 'pending', committedOffset: 1, lag: 2 },
    archived: { state: 'pending' },
  });
  pipeline.processors.clear();
  assert.deepEqual((await status(app, 'login-1')).json<{ processed: unknown }>().processed, {
    state: 'pending',
    committedOffset: null,
    lag: 1,
  });
});

test('processed: a login is never flagged; a flagged trade names its alert; archived with its time', async () => {
  const { app, pipeline } = await buildTestApp();
  assert.equal((await send(app, { events: [login(1), trade(1)] })).statusCode, 202);
  pipeline.processors.set(PARTITION, 2);
  const alertId = deriveAlertId(RULE_ID, 'trade-1');
  pipeline.archivedAlerts.set(alertId, NOW + 900);
  pipeline.archivedEvents.set('trade-1', NOW + 1000);
  const t = (await status(app, 'trade-1')).json<Record<string, unknown>>();
  assert.deepEqual(t.processed, { state: 'done', committedOffset: 2, flagged: true, alertId });
  assert.deepEqual(t.archived, { state: 'done', archivedAt: NOW + 1000 });
  const l = (await status(app, 'login-1')).json<Record<string, unknown>>();
  assert.deepEqual(l.processed, { state: 'done', committedOffset: 2, flagged: false, alertId: null });
});

test('not flagged is said only once the alert archive has caught up with the trade', async () => {
  const { app, pipeline } = await buildTestApp();
  assert.equal((await send(app, trade(1))).statusCode, 202);
  pipeline.processors.set(PARTITION, 1);
  // The alerts partition ends at 40 when the trade is first seen processed; the sink is at 30.
  pipeline.alertsEnd = 40;
  pipeline.sinkAlertsCommitted = 30;
  const processed = async () => (await status(app, 'trade-1')).json<{ processed: unknown }>().processed;
  assert.deepEqual(await processed(), { state: 'done', committedOffset: 1, flagged: null, alertId: null });
  // More alerts keep arriving; what counts is the mark taken the first time, not the end now.
  pipeline.alertsEnd = 90;
  pipeline.sinkAlertsCommitted = 39;
  assert.deepEqual(await processed(), { state: 'done', committedOffset: 1, flagged: false, alertId: null });
  // An alert that does turn up in the archive is what counts.
  pipeline.archivedAlerts.set(deriveAlertId(RULE_ID, 'trade-1'), NOW);
  assert.deepEqual(await processed(), {
    state: 'done',
    committedOffset: 1,
    flagged: true,
    alertId: deriveAlertId(RULE_ID, 'trade-1'),
  });
});

test('Kafka or ClickHouse down: what cannot be known is said so; Redis down is a 503', async () => {
  const { app, pipeline, ledger } = await buildTestApp();
  assert.equal((await send(app, trade(1))).statusCode, 202);
  pipeline.kafkaFailWith = new Error('Kafka: connection refused');
  let body = (await status(app, 'trade-1')).json<Record<string, unknown>>();
  assert.deepEqual(body.processed, { state: 'unknown', reason: 'Kafka: connection refused' });
  assert.deepEqual(body.archived, { state: 'pending' });

  pipeline.kafkaFailWith = undefined;
  pipeline.processors.set(PARTITION, 5);
  pipeline.clickhouseFailWith = new Error('ClickHouse unreachable: ECONNREFUSED');
  body = (await status(app, 'trade-1')).json<Record<string, unknown>>();
  assert.deepEqual(body.processed, { state: 'done', committedOffset: 5, flagged: null, alertId: null });
  assert.deepEqual(body.archived, { state: 'unknown', reason: 'ClickHouse unreachable: ECONNREFUSED' });

  ledger.failWith = new TradewatchError('REDIS_UNAVAILABLE', 'redis: connection refused', {
    retriable: true,
  });
  const down = await status(app, 'trade-1');
  assert.equal(down.statusCode, 503);
  assert.equal(down.headers['retry-after'], '1');
});

test('a source that hangs is bounded', async () => {
  const { app, pipeline } = await buildTestApp({ statusTimeoutMs: 100 });
  assert.equal((await send(app, trade(1))).statusCode, 202);
  pipeline.processorsCommitted = () => new Promise(() => undefined);
  const started = Date.now();
  const body = (await status(app, 'trade-1')).json<{ processed: unknown }>();
  assert.ok(Date.now() - started < 1000);
  assert.deepEqual(body.processed, { state: 'unknown', reason: 'Kafka: no answer within 100 ms' });
});

test('404 for an unknown id, a claim in flight, an id of another game server; 400 for an impossible id; 401', async () => {
  const { app, ledger } = await buildTestApp();
  assert.equal((await send(app, trade(1))).statusCode, 202);
  await ledger.claim('live', [{ eventId: 'trade-9', fingerprint: 'fp' }], 'someone', 30_000);
  for (const id of ['trade-404', 'trade-9']) {
    const res = await status(app, id);
    assert.equal(res.statusCode, 404, id);
    assert.equal(res.json<{ error: string }>().error, 'not_found');
  }
  const other = await status(app, 'trade-1', { authorization: `Bearer ${TOKEN_B}` });
  assert.equal(other.statusCode, 404, 'another game server does not see it');
  const bad = await status(app, 'a b');
  assert.deepEqual([bad.statusCode, bad.json<{ error: string }>().error], [400, 'invalid_event_id']);
  assert.equal((await status(app, 'x'.repeat(129))).statusCode, 400);
  for (const authorization of [undefined, 'Bearer nope']) {
    const res = await status(app, 'trade-1', authorization === undefined ? {} : { authorization });
    assert.equal(res.statusCode, 401);
  }
});

test('a sandbox token: answered like a live one, published apart, never processed, its ids its own', async () => {
  const { app, publisher } = await buildTestApp();
  const sandbox = { authorization: `Bearer ${SANDBOX_TOKEN}`, 'content-type': 'application/json' };
  const events = [login(1), trade(1)];
  assert.deepEqual((await send(app, { events }, sandbox)).json(), { accepted: 2, duplicates: 0 });
  assert.deepEqual((await send(app, { events }, sandbox)).json(), { accepted: 0, duplicates: 2 });
  assert.deepEqual(
    publisher.sandbox.map((e) => [e.eventId, e.gameServerId]),
    [
      ['login-1', 'gs-alpha'],
      ['trade-1', 'gs-alpha'],
    ],
  );
  assert.deepEqual(publisher.published, [], 'nothing reached the live topic');
  // Validated like live events.
  const invalid = await send(app, trade(2, { amount: -1 }), sandbox);
  assert.equal(invalid.json<{ error: string }>().error, 'invalid_events');

  // The same ids with a live token are other events.
  assert.deepEqual((await send(app, { events: [trade(1, { amount: 77 })] })).json(), {
    accepted: 1,
    duplicates: 0,
  });
  const s = (await status(app, 'trade-1', { authorization: `Bearer ${SANDBOX_TOKEN}` })).json<
    Record<string, unknown>
  >();
  assert.equal(s.sandbox, true);
  assert.deepEqual(s.accepted, {
    receivedAt: NOW,
    topic: 'tradewatch.sandbox.game-events',
    partition: PARTITION,
    offset: 1,
  });
  assert.deepEqual(s.processed, {
    state: 'skipped',
    reason: 'sandbox events are never processed nor archived',
  });
  assert.deepEqual(s.archived, {
    state: 'skipped',
    reason: 'sandbox events are never processed nor archived',
  });
  const live = (await status(app, 'trade-1')).json<Record<string, unknown>>();
  assert.equal(live.sandbox, false);
  assert.equal((await status(app, 'login-1')).statusCode, 404, 'the live token does not see sandbox events');
});

test('a sandbox token has a rate budget of its own', async () => {
  const { app, rateGate } = await buildTestApp();
  rateGate.limit = 2;
  const sandbox = { authorization: `Bearer ${SANDBOX_TOKEN}`, 'content-type': 'application/json' };
  assert.equal((await send(app, { events: [trade(1), trade(2)] }, sandbox)).statusCode, 202);
  assert.equal((await send(app, trade(3), sandbox)).statusCode, 429);
  assert.equal(
    (await send(app, { events: [trade(1), trade(2)] })).statusCode,
    202,
    'live traffic is not starved',
  );
});
