// Every rule of docs/integrators.md, "Events" at its boundaries, through the HTTP API (app.inject): what is accepted is
// published normalised, what is not is a 400 naming the event index and JSON path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_TS } from '@tradewatch/shared/events';
import { MAX_JSON_DEPTH } from '../src/json-body.ts';
import { JSON_HEADERS, NOW, buildTestApp, login, trade } from './support/memory-ports.ts';

const DAY = 86_400_000;
const { app, publisher } = await buildTestApp();

interface Problem {
  index: number;
  path: string;
  message: string;
}

const send = (body: unknown) =>
  app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: JSON_HEADERS,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

let seq = 0;
/** Sends one event (with a fresh eventId unless given) and returns what was published. */
const accepted = async (event: Record<string, unknown>) => {
  const ev = { ...event, eventId: event.eventId ?? `v-${seq++}` };
  const res = await send(ev);
  assert.equal(res.statusCode, 202, `expected ${JSON.stringify(ev)} to be accepted, got ${res.body}`);
  return publisher.published.at(-1)!;
};
/** Sends one event expecting a 400, and returns the paths named. */
const rejected = async (event: Record<string, unknown>) => {
  const before = publisher.published.length;
  const res = await send('eventId' in event ? event : { ...event, eventId: `v-${seq++}` });
  assert.equal(res.statusCode, 400, `expected rejection of ${JSON.stringify(event)}`);
  const body = res.json<{ error: string; details: Problem[] }>();
  assert.equal(body.error, 'invalid_events');
  assert.ok(body.details.every((d) => d.index === 0 && d.message.length > 0));
  assert.equal(publisher.published.length, before, 'nothing published');
  return body.details.map((d) => d.path);
};
const base = (e: Record<string, unknown>) => {
  const { eventId: _drop, ...rest } = e;
  return rest;
};
const L = base(login(0));
const T = base(trade(0));

test('batch size: 0 and 1001 events are refused, 1 and 1000 accepted', async () => {
  const batch = (n: number) => ({
    events: Array.from({ length: n }, () => ({ ...T, eventId: `b-${seq++}` })),
  });
  for (const n of [0, 1001]) {
    const res = await send(batch(n));
    assert.equal(res.statusCode, 400, `${n} events`);
    assert.equal(res.json<{ error: string }>().error, 'invalid_body');
  }
  for (const n of [1, 1000]) {
    const res = await send(batch(n));
    assert.equal(res.statusCode, 202, `${n} events`);
    assert.deepEqual(res.json(), { accepted: n, duplicates: 0 });
  }
});

test('one bad event among 1000 publishes nothing and is named by its index', async () => {
  const before = publisher.published.length;
  const events: Record<string, unknown>[] = Array.from({ length: 1000 }, () => ({
    ...T,
    eventId: `c-${seq++}`,
  }));
  events[500] = { ...events[500]!, amount: -1 };
  const res = await send({ events });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(
    res.json<{ details: Problem[] }>().details.map((d) => [d.index, d.path]),
    [[500, '/amount']],
  );
  assert.equal(publisher.published.length, before);
});

test('required fields and type', async () => {
  const noId = await send(base(L));
  assert.equal(noId.statusCode, 400);
  assert.deepEqual(
    noId.json<{ details: Problem[] }>().details.map((d) => d.path),
    ['/eventId'],
  );
  for (const field of ['type', 'userId', 'ts', 'ip']) {
    const ev: Record<string, unknown> = { ...login(`req-${field}`) };
    delete ev[field];
    const paths = await rejected(ev);
    assert.ok(paths.includes(`/${field}`), `${field}: ${paths.join()}`);
  }
  assert.deepEqual(await rejected({ ...T, amount: undefined }), ['/amount']);
  assert.deepEqual(await rejected({ ...T, type: 'refund' }), ['/type']);
  assert.deepEqual(await rejected({ ...T, type: 'TRADE' }), ['/type']);
});

test('unknown fields are rejected, including trade-only fields on a login', async () => {
  assert.deepEqual(await rejected({ ...T, amout: 5 }), ['/amout']);
  assert.deepEqual(await rejected({ ...L, amount: 5 }), ['/amount']);
  assert.deepEqual(await rejected({ ...L, currency: 'gold' }), ['/currency']);
  assert.deepEqual(await rejected({ ...L, itemId: 'sword' }), ['/itemId']);
  assert.deepEqual(await rejected({ ...L, counterpartyId: 'u2' }), ['/counterpartyId']);
  assert.deepEqual(await rejected({ ...T, receivedAt: NOW }), ['/receivedAt']);
});

test('eventId: 1-128 of A-Z a-z 0-9 . _ : -', async () => {
  assert.equal((await accepted({ ...T, eventId: 'a' })).eventId, 'a');
  assert.equal((await accepted({ ...T, eventId: 'E'.repeat(128) })).eventId.length, 128);
  await accepted({ ...T, eventId: 'Az09._:-' });
  for (const bad of [
    '',
    'E'.repeat(129),
    'a b',
    'é',
    'a/b',
    'a\u0000b',
    'a\nb',
    '🎮',
    'a\u200bb',
    'a\ud800',
  ]) {
    assert.deepEqual(await rejected({ ...T, eventId: bad }), ['/eventId'], JSON.stringify(bad));
  }
  assert.deepEqual(await rejected({ ...T, eventId: 7 }), ['/eventId']);
});

test('userId: 1-128 characters, unicode allowed, no control characters, no lone surrogates', async () => {
  assert.equal((await accepted({ ...T, userId: 'Ünïcødé 玩家 🎮' })).userId, 'Ünïcødé 玩家 🎮');
  await accepted({ ...T, userId: 'u'.repeat(128) });
  await accepted({ ...T, userId: '🎮'.repeat(64) }); // 128 UTF-16 code units
  await accepted({ ...T, userId: 'a\u200bb\u202e' }); // format characters are not control characters
  for (const bad of [
    '',
    'u'.repeat(129),
    '🎮'.repeat(65),
    'a\tb',
    'a\u0000',
    'a\u001f',
    'a\u007f',
    'a\u0085',
    'a\u009f',
    'a\ud800',
    '\udc00b',
  ]) {
    assert.deepEqual(await rejected({ ...T, userId: bad }), ['/userId'], JSON.stringify(bad));
  }
});

test('ts: epoch ms or RFC 3339, from 2000-01-01 to 24 h after the server clock', async () => {
  assert.equal((await accepted({ ...T, ts: MIN_TS })).ts, MIN_TS);
  assert.equal((await accepted({ ...T, ts: '2000-01-01T00:00:00Z' })).ts, MIN_TS);
  assert.equal((await accepted({ ...T, ts: '2000-01-01T01:00:00+01:00' })).ts, MIN_TS);
  assert.equal((await accepted({ ...T, ts: NOW + DAY })).ts, NOW + DAY);
  assert.equal((await accepted({ ...T, ts: new Date(NOW + DAY).toISOString() })).ts, NOW + DAY);
  assert.equal((await accepted({ ...T, ts: '2026-11-25T12:00:00.123456789z' })).ts, NOW + 123);
  assert.equal((await accepted({ ...T, ts: '2026-11-25 12:00:00Z' })).ts, NOW);
  assert.equal((await accepted({ ...T, ts: '2026-11-25T07:00:00-05:00' })).ts, NOW);
  for (const bad of [
    MIN_TS - 1,
    NOW + DAY + 1,
    '1999-12-31T23:59:59.999Z',
    new Date(NOW + DAY + 1).toISOString(),
    NOW + 0.5,
    -1,
    '2026-11-25',
    '2026-11-25T12:00:00',
    '2026-02-30T00:00:00Z',
    '2026-11-25T24:00:00Z',
    '2026-11-25T12:00:00+24:00',
    'yesterday',
    String(NOW),
    '',
    null,
    true,
  ]) {
    assert.deepEqual(await rejected({ ...T, ts: bad }), ['/ts'], JSON.stringify(bad));
  }
});

test('ts: the message says what ts may be, and names the unit when epoch seconds (or µs, ns) were sent', async () => {
  const messageFor = async (ts: unknown) => {
    const res = await send({ ...T, eventId: `m-${seq++}`, ts });
    assert.equal(res.statusCode, 400, JSON.stringify(ts));
    const [d] = res.json<{ details: Problem[] }>().details;
    assert.equal(d?.path, '/ts');
    return d.message;
  };
  const seconds = Math.floor(NOW / 1000);
  assert.equal(
    await messageFor(seconds),
    'Expected a time between 2000-01-01T00:00:00Z and 24 hours after the server clock: ' +
      `${seconds} looks like epoch seconds; send milliseconds (${seconds * 1000})`,
  );
  assert.match(
    await messageFor(NOW * 1000),
    new RegExp(`epoch microseconds; send milliseconds \\(${NOW}\\)`),
  );
  assert.match(await messageFor(NOW * 1e6), /epoch nanoseconds/);
  assert.doesNotMatch(await messageFor(-1), /looks like/);
  assert.doesNotMatch(await messageFor(NOW + 2 * DAY), /looks like/);
  assert.equal(
    await messageFor(NOW + 0.5),
    `Expected integer epoch milliseconds, got a fraction (${NOW + 0.5}); or an RFC 3339 timestamp`,
  );
  for (const shape of [null, true, 'soon', {}, 'x'.repeat(65)]) {
    const message = await messageFor(shape);
    assert.match(
      message,
      /^Expected an RFC 3339 timestamp .* or integer epoch milliseconds$/,
      JSON.stringify(shape),
    );
    assert.doesNotMatch(message, /union/);
  }
  const missing = await send({ eventId: `m-${seq++}`, type: 'trade', userId: 'u', amount: 1 });
  assert.match(missing.json<{ details: Problem[] }>().details[0]!.message, /^Required property/);
});

test('ip: IPv4 and IPv6 forms, normalised; required for login, optional for trade', async () => {
  const cases: [string, string][] = [
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:203.0.113.10', '203.0.113.10'],
    ['::ffff:cb00:710a', '203.0.113.10'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
    ['fe80::1', 'fe80::1'],
  ];
  for (const [given, normal] of cases) {
    assert.equal((await accepted({ ...L, ip: given })).ip, normal, given);
  }
  assert.equal((await accepted({ ...T, ip: '10.0.0.1' })).ip, '10.0.0.1');
  assert.equal('ip' in (await accepted(T)), false);
  for (const bad of [
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.4/24',
    'fe80::1%eth0',
    '2001:db8::1::1',
    '12345::',
    'localhost',
    '',
    'x',
    '[::1]',
  ]) {
    assert.deepEqual(await rejected({ ...L, ip: bad }), ['/ip'], bad);
  }
  assert.deepEqual(await rejected({ ...L, ip: 1234 }), ['/ip']);
});

test('amount: finite, > 0, <= 1e12; currency defaults to gold', async () => {
  const amountOf = async (amount: number) =>
    ((await accepted({ ...T, amount })) as { amount?: number }).amount;
  assert.equal(await amountOf(Number.MIN_VALUE), Number.MIN_VALUE);
  assert.equal(await amountOf(1e12), 1e12);
  assert.equal(await amountOf(0.01), 0.01);
  const t = await accepted(T);
  assert.equal(t.type === 'trade' && t.currency, 'gold');
  for (const bad of [0, -0, -1, 1e12 + 0.001, 1e300, '10', null, [], {}]) {
    assert.deepEqual(await rejected({ ...T, amount: bad }), ['/amount'], JSON.stringify(bad));
  }
  // JSON has no Infinity, but 1e999 parses to it.
  const res = await send(`{"eventId":"inf-1","type":"trade","userId":"u","ts":${NOW},"amount":1e999}`);
  assert.equal(res.statusCode, 400);
  assert.equal(res.json<{ details: Problem[] }>().details[0]?.path, '/amount');
});

test('currency, itemId, counterpartyId: bounded text without control characters', async () => {
  const t = await accepted({
    ...T,
    currency: 'c'.repeat(16),
    itemId: 'i'.repeat(128),
    counterpartyId: '对手',
  });
  assert.deepEqual(t.type === 'trade' && [t.currency.length, t.itemId?.length, t.counterpartyId], [
    16,
    128,
    '对手',
  ]);
  assert.deepEqual(await rejected({ ...T, currency: 'c'.repeat(17) }), ['/currency']);
  assert.deepEqual(await rejected({ ...T, currency: '' }), ['/currency']);
  assert.deepEqual(await rejected({ ...T, itemId: 'i'.repeat(129) }), ['/itemId']);
  assert.deepEqual(await rejected({ ...T, itemId: 'a\u0007' }), ['/itemId']);
  assert.deepEqual(await rejected({ ...T, counterpartyId: '' }), ['/counterpartyId']);
  assert.deepEqual(await rejected({ ...T, counterpartyId: 'x\ud83c' }), ['/counterpartyId']);
});

test('several problems in one event are all listed', async () => {
  const paths = await rejected({ ...T, userId: '', amount: 0, ts: 'soon', colour: 'red' });
  assert.deepEqual(paths.toSorted(), ['/amount', '/colour', '/ts', '/userId']);
});

test(`nesting depth is bounded at ${MAX_JSON_DEPTH}`, async () => {
  const nest = (depth: number): unknown => (depth <= 1 ? {} : { x: nest(depth - 1) });
  // Body, events array and event are 3 levels. At the bound, the misplaced object is reported by its path.
  const ok = await send({ events: [{ ...T, eventId: 'deep-1', extra: nest(MAX_JSON_DEPTH - 3) }] });
  assert.equal(ok.statusCode, 400);
  assert.equal(ok.json<{ error: string }>().error, 'invalid_events');
  const deep = await send({ events: [{ ...T, eventId: 'deep-2', extra: nest(MAX_JSON_DEPTH - 2) }] });
  assert.equal(deep.statusCode, 400);
  assert.equal(deep.json<{ error: string }>().error, 'invalid_body');
  assert.equal(ok.json<{ details: Problem[] }>().details[0]?.path, '/extra');
  const huge = await send('['.repeat(500_000) + ']'.repeat(500_000));
  assert.equal(huge.statusCode, 400);
  assert.match(huge.json<{ message: string }>().message, /deeper than/);
});
