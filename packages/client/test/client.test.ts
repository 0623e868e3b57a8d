// The client against a scripted HTTP server on loopback that answers each request as the test
// says (the gateway's replies, or none): batching by size and linger, generated ids, retries of
// 429/503/network errors/timeouts with Retry-After honoured, no retry of a 4xx, per-event
// outcomes, per-player order, flush and close. The real gateway, with Kafka stopped under it, is
// test/client-gateway-outage.integration.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TradewatchClient, retryDelay, type GameEvent, type TradewatchClientError } from '../src/index.ts';
import { parseRetryAfter } from '../src/errors.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  events: Record<string, unknown>[];
  body: string;
  at: number;
}
type Answer = (req: Seen, res: ServerResponse) => void | Promise<void>;

const seen: Seen[] = [];
let answer: Answer = (_req, res) => reply(res, 202, {});
const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
/** The gateway's 202: everything accepted. */
const accept = (req: Seen, res: ServerResponse): void =>
  reply(res, 202, { accepted: req.events.length, duplicates: 0 });

const server = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const parsed = body === '' ? {} : (JSON.parse(body) as { events?: Record<string, unknown>[] });
    const s: Seen = {
      method: req.method!,
      url: req.url!,
      authorization: req.headers.authorization,
      events: parsed.events ?? [],
      body,
      at: Date.now(),
    };
    seen.push(s);
    void answer(s, res);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((r) => server.close(() => r())));

const reset = (a: Answer = accept) => {
  seen.length = 0;
  answer = a;
};
const client = (opts: Partial<ConstructorParameters<typeof TradewatchClient>[0]> = {}) =>
  new TradewatchClient({
    url,
    token: 'secret-token',
    lingerMs: 5,
    retry: { initialDelayMs: 10, maxDelayMs: 50 },
    ...opts,
  });

let n = 0;
const trade = (userId = 'p1', extra: Partial<GameEvent> = {}): GameEvent =>
  ({ eventId: `e-${n++}`, type: 'trade', userId, ts: 1795608000000, amount: 10, ...extra }) as GameEvent;

test('batches by size, then by linger; one request per batch, the token as a bearer', async () => {
  reset();
  const c = client({ batchSize: 500, lingerMs: 60_000, concurrency: 1 });
  const events = Array.from({ length: 1200 }, () => trade());
  const sent = c.send(events);
  // Two full batches go at once; the last 200 linger until flushed.
  await c.flush();
  const outcomes = await sent;
  assert.deepEqual(
    seen.map((s) => s.events.length),
    [500, 500, 200],
  );
  assert.ok(seen.every((s) => s.method === 'POST' && s.url === '/v1/events'));
  assert.ok(seen.every((s) => s.authorization === 'Bearer secret-token'));
  assert.deepEqual(
    outcomes.map((o) => o.status),
    events.map(() => 'accepted'),
  );
  assert.deepEqual(
    seen.flatMap((s) => s.events.map((e) => e.eventId)),
    events.map((e) => e.eventId),
  );
  await c.close();
});

test('an event waits at most lingerMs for company; bytes bound a batch as well', async () => {
  reset();
  const c = client({ lingerMs: 80, concurrency: 1 });
  const started = Date.now();
  await c.send([trade(), trade(), trade()]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.events.length, 3);
  const waited = seen[0]!.at - started;
  assert.ok(waited >= 70 && waited < 1000, `sent after ${waited} ms`);

  reset();
  const big = client({ maxBatchBytes: 10_000, concurrency: 1, lingerMs: 0 });
  const events = Array.from({ length: 60 }, () => trade('p1', { itemId: 'x'.repeat(100) }));
  await big.send(events);
  assert.ok(seen.length > 1);
  assert.ok(seen.every((s) => Buffer.byteLength(s.body) <= 10_000));
  await Promise.all([c.close(), big.close()]);
});

test('eventIds are generated when absent (with the prefix), and ts may be a Date', async () => {
  reset();
  const c = client({ eventIdPrefix: 'gs-eu-1:' });
  const [o] = await c.send({ type: 'login', userId: 'p1', ts: new Date(1795608000000), ip: '203.0.113.7' });
  assert.equal(o!.status, 'accepted');
  assert.match(o!.eventId, /^gs-eu-1:[0-9a-f-]{36}$/);
  assert.deepEqual(seen[0]!.events[0], {
    type: 'login',
    userId: 'p1',
    ts: 1795608000000,
    ip: '203.0.113.7',
    eventId: o!.eventId,
  });
  await c.close();
});

test('429 and 503 are retried with the same body, no sooner than Retry-After', async () => {
  let calls = 0;
  reset((req, res) => {
    calls++;
    if (calls === 1)
      return reply(res, 503, { error: 'unavailable', message: 'Kafka down' }, { 'retry-after': '1' });
    if (calls === 2)
      return reply(res, 429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '0' });
    return accept(req, res);
  });
  const retries: { attempt: number; delayMs: number; code: string }[] = [];
  const c = client({
    onRetry: (r) => retries.push({ attempt: r.attempt, delayMs: r.delayMs, code: r.error.code }),
  });
  const [o] = await c.send({ type: 'trade', userId: 'p1', ts: 1795608000000, amount: 5 });
  assert.equal(o!.status, 'accepted');
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen.map((s) => s.body)).size, 1, 'every attempt sent the same body, same eventId');
  assert.ok(seen[1]!.at - seen[0]!.at >= 1000, `retried after ${seen[1]!.at - seen[0]!.at} ms`);
  assert.deepEqual(
    retries.map((r) => [r.attempt, r.code]),
    [
      [1, 'unavailable'],
      [2, 'rate_limited'],
    ],
  );
  assert.ok(retries[0]!.delayMs >= 1000 && retries[0]!.delayMs <= 1100);
  assert.deepEqual(c.stats(), {
    pending: 0,
    requests: 3,
    retries: 2,
    accepted: 1,
    duplicates: 0,
    invalid: 0,
    conflicts: 0,
    failed: 0,
  });
  await c.close();
});

test('a network error and a request past its timeout are retried', async () => {
  let calls = 0;
  reset((req, res) => {
    calls++;
    if (calls === 1) return void res.socket?.destroy();
    if (calls === 2) return; // no answer at all
    return accept(req, res);
  });
  const codes: string[] = [];
  const c = client({ requestTimeoutMs: 200, onRetry: (r) => codes.push(r.error.code) });
  const [o] = await c.send(trade());
  assert.equal(o!.status, 'accepted');
  assert.deepEqual(codes, ['network', 'timeout']);
  await c.close();
});

test('a 4xx is never retried: 401 fails the batch, 400 and 409 settle the named events and send the rest', async () => {
  reset((_req, res) =>
    reply(res, 401, { error: 'unauthorized', message: 'missing or unknown bearer token' }),
  );
  const c = client({ concurrency: 1 });
  const out = await c.send([trade(), trade()]);
  assert.equal(seen.length, 1);
  assert.deepEqual(
    out.map((o) => (o.status === 'failed' ? [o.error.code, o.error.status, o.error.retriable] : o.status)),
    [
      ['unauthorized', 401, false],
      ['unauthorized', 401, false],
    ],
  );

  // A batch with an invalid event and a reused eventId: the others still go, in order.
  const events = [trade(), trade('p1', { amount: -1 }), trade(), trade(), trade()];
  reset((req, res) => {
    const ids = req.events.map((e) => e.eventId);
    const bad = ids.indexOf(events[1]!.eventId);
    if (bad >= 0) {
      return reply(res, 400, {
        error: 'invalid_events',
        message: '1 of 5 event(s) invalid; nothing was published',
        details: [{ index: bad, path: '/amount', message: 'Expected number to be greater than 0' }],
      });
    }
    const conflict = ids.indexOf(events[3]!.eventId);
    if (conflict >= 0) {
      return reply(res, 409, { error: 'event_id_conflict', message: 'reused', indexes: [conflict] });
    }
    return accept(req, res);
  });
  const outcomes = await c.send(events);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['accepted', 'invalid', 'accepted', 'conflict', 'accepted'],
  );
  assert.deepEqual(outcomes[1], {
    status: 'invalid',
    eventId: events[1]!.eventId,
    problems: [{ path: '/amount', message: 'Expected number to be greater than 0' }],
  });
  assert.deepEqual(
    seen.map((s) => s.events.length),
    [5, 4, 3],
  );

  // A 500 (a bug, or a non-retriable Kafka error) is not retried either.
  reset((_req, res) => reply(res, 500, { error: 'internal', message: 'internal error' }));
  const [failed] = await c.send(trade());
  assert.equal(seen.length, 1);
  assert.equal(failed?.status === 'failed' && failed.error.code, 'internal');
  await c.close();
});

test('413: the batch is halved, in order; a single event that big fails', async () => {
  reset((req, res) =>
    req.events.length > 2
      ? reply(res, 413, { error: 'body_too_large', message: 'too big' })
      : accept(req, res),
  );
  const c = client({ concurrency: 1 });
  const events = Array.from({ length: 8 }, () => trade());
  const outcomes = await c.send(events);
  assert.ok(outcomes.every((o) => o.status === 'accepted'));
  const order = seen.filter((s) => s.events.length <= 2).flatMap((s) => s.events.map((e) => e.eventId));
  assert.deepEqual(
    order,
    events.map((e) => e.eventId),
  );
  reset((_req, res) => reply(res, 413, { error: 'body_too_large', message: 'too big' }));
  const [one] = await c.send(trade());
  assert.equal(one?.status === 'failed' && one.error.code, 'body_too_large');
  await c.close();
});

test('retries stop after maxElapsedMs: the events fail with retries_exhausted', async () => {
  reset((_req, res) => reply(res, 503, { error: 'unavailable', message: 'down' }, { 'retry-after': '0' }));
  const c = client({ retry: { initialDelayMs: 20, maxDelayMs: 40, maxElapsedMs: 300 } });
  const started = Date.now();
  const [o] = await c.send(trade());
  assert.ok(Date.now() - started < 2000);
  assert.ok(seen.length >= 3, `${seen.length} attempts`);
  assert.ok(o?.status === 'failed');
  assert.equal(o.error.code, 'retries_exhausted');
  assert.equal(o.error.retriable, true);
  assert.equal(((o.error.cause as TradewatchClientError) ?? {}).code, 'unavailable');
  await c.close();
});

test("a player's events stay in order across batches, lanes, retries and slow replies", async () => {
  let calls = 0;
  const accepted: Record<string, unknown>[] = [];
  reset(async (req, res) => {
    calls++;
    await new Promise((r) => setTimeout(r, Math.random() * 15));
    if (calls % 7 === 0)
      return reply(res, 503, { error: 'unavailable', message: 'x' }, { 'retry-after': '0' });
    accepted.push(...req.events); // in the order the 202s are sent
    accept(req, res);
  });
  const c = client({ batchSize: 20, concurrency: 4, lingerMs: 2 });
  const users = Array.from({ length: 12 }, (_, i) => `player-${i}`);
  const sent: GameEvent[] = [];
  const pending: Promise<unknown>[] = [];
  for (let round = 0; round < 30; round++) {
    const batch = Array.from({ length: 17 }, () =>
      trade(`player-${Math.floor(Math.random() * users.length)}`),
    );
    sent.push(...batch);
    pending.push(c.send(batch));
    await new Promise((r) => setTimeout(r, Math.random() * 5));
  }
  await Promise.all(pending);
  assert.ok(new Set(seen.map((s) => s.at)).size > 10 && calls > 30, 'many requests, some concurrent');
  for (const u of users) {
    assert.deepEqual(
      accepted.filter((e) => e.userId === u).map((e) => e.eventId),
      sent.filter((e) => e.userId === u).map((e) => e.eventId),
      u,
    );
  }
  await c.close();
});

test('close() sends what lingers and waits; afterwards send rejects; stuck retries fail as closed', async () => {
  reset();
  const c = client({ lingerMs: 60_000 });
  const sending = c.send([trade(), trade()]);
  await c.close();
  assert.deepEqual(
    (await sending).map((o) => o.status),
    ['accepted', 'accepted'],
  );
  await assert.rejects(c.send(trade()), (e: TradewatchClientError) => e.code === 'closed');
  await c.close(); // twice is fine

  reset((_req, res) => reply(res, 503, { error: 'unavailable', message: 'down' }, { 'retry-after': '1' }));
  const stuck = client({ closeTimeoutMs: 300, retry: { maxElapsedMs: Infinity } });
  const outcome = stuck.send(trade());
  const started = Date.now();
  await stuck.close();
  assert.ok(Date.now() - started < 1500, `closed after ${Date.now() - started} ms`);
  const [o] = await outcome;
  assert.ok(o?.status === 'failed');
  assert.equal(o.error.code, 'closed');
});

test('queue_full beyond maxPendingEvents; bad options are refused at construction', async () => {
  reset(async (req, res) => {
    await new Promise((r) => setTimeout(r, 50));
    accept(req, res);
  });
  const c = client({ maxPendingEvents: 10, concurrency: 1 });
  const outcomes = await c.send(Array.from({ length: 12 }, () => trade()));
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'failed' ? o.error.code : o.status)),
    [...Array<string>(10).fill('accepted'), 'queue_full', 'queue_full'],
  );
  await c.close();
  assert.throws(() => client({ batchSize: 1001 }), /batchSize/);
  assert.throws(() => client({ concurrency: 0 }), /concurrency/);
  assert.throws(() => new TradewatchClient({ url, token: '' }), /token/);
});

test('eventStatus: 200 is the status, 404 is undefined, other errors are typed', async () => {
  const status = { eventId: 'e-1', type: 'trade', processed: { state: 'pending' } };
  reset((req, res) => {
    if (req.url === '/v1/events/e-1') return reply(res, 200, status);
    if (req.url === '/v1/events/a%3Ab') return reply(res, 404, { error: 'not_found', message: 'no' });
    return reply(res, 503, { error: 'unavailable', message: 'redis down' }, { 'retry-after': '2' });
  });
  const c = client();
  assert.deepEqual(await c.eventStatus('e-1'), status);
  assert.equal(await c.eventStatus('a:b'), undefined);
  await assert.rejects(
    c.eventStatus('x'),
    (e: TradewatchClientError) => e.code === 'unavailable' && e.retriable && e.retryAfterMs === 2000,
  );
  assert.ok(seen.every((s) => s.method === 'GET' && s.authorization === 'Bearer secret-token'));
  await c.close();
});

test('a base URL with a path prefix keeps it', async () => {
  reset();
  const c = new TradewatchClient({ url: `${url}/tradewatch`, token: 't', lingerMs: 0 });
  await c.send(trade());
  assert.equal(seen[0]!.url, '/tradewatch/v1/events');
  await c.close();
});

test('retryDelay: exponential with jitter, capped, never below Retry-After', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 5000 };
  assert.equal(
    retryDelay(0, undefined, policy, () => 0),
    50,
  );
  assert.equal(
    retryDelay(0, undefined, policy, () => 1),
    100,
  );
  assert.equal(
    retryDelay(3, undefined, policy, () => 1),
    800,
  );
  assert.equal(
    retryDelay(20, undefined, policy, () => 1),
    5000,
  );
  assert.equal(
    retryDelay(20, undefined, policy, () => 0),
    2500,
  );
  assert.equal(
    retryDelay(0, 2000, policy, () => 0),
    2000,
  );
  assert.equal(
    retryDelay(0, 2000, policy, () => 1),
    2200,
  );
  assert.equal(
    retryDelay(20, 1000, policy, () => 1),
    5000,
    'a longer backoff wins over a short Retry-After',
  );
  assert.equal(parseRetryAfter('3', 0), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfter('soon', 0), undefined);
  assert.equal(parseRetryAfter(null, 0), undefined);
});
