import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent, parseRfc3339, validateIncomingEvent, MIN_TS } from '../src/events.ts';
import { normalizeIp } from '../src/ip.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const ctx = { gameServerId: 'gs-1', receivedAt: NOW };
const login = { eventId: 'e-1', type: 'login', userId: 'u1', ts: NOW, ip: '1.2.3.4' };
const trade = { eventId: 'e-2', type: 'trade', userId: 'u1', ts: NOW, amount: 10 };

const errorsOf = (raw: unknown) => {
  const r = validateIncomingEvent(raw, ctx);
  assert.equal(r.ok, false, `expected ${JSON.stringify(raw)} to be rejected`);
  return r.ok ? [] : r.errors;
};
const valueOf = (raw: unknown) => {
  const r = validateIncomingEvent(raw, ctx);
  assert.ok(r.ok, `expected valid: ${JSON.stringify(r)}`);
  return r.value;
};

test('a valid login and trade are normalised and stamped', () => {
  assert.deepEqual(valueOf(login), { ...login, gameServerId: 'gs-1', receivedAt: NOW });
  assert.deepEqual(valueOf(trade), { ...trade, currency: 'gold', gameServerId: 'gs-1', receivedAt: NOW });
  const full = { ...trade, ip: '2001:DB8:0:0::1', currency: 'gems', itemId: 'sword', counterpartyId: 'u2' };
  assert.equal(valueOf(full).ip, '2001:db8::1');
});

test('unknown fields are rejected with their path', () => {
  assert.deepEqual(
    errorsOf({ ...trade, amout: 5 }).map((e) => e.path),
    ['/amout'],
  );
});

test('type decides the required fields', () => {
  assert.ok(errorsOf({ ...login, ip: undefined }).some((e) => e.path === '/ip'));
  assert.ok(errorsOf({ ...login, amount: 5 }).some((e) => e.path === '/amount'));
  assert.ok(errorsOf({ ...trade, amount: undefined }).some((e) => e.path === '/amount'));
  assert.deepEqual(errorsOf({ ...trade, type: 'refund' }), [
    { path: '/type', message: 'Expected "login" or "trade"' },
  ]);
  assert.ok(errorsOf({ ...login, currency: 'gold' }).some((e) => e.path === '/currency'));
});

test('eventId: 1-128 chars of A-Z a-z 0-9 . _ : -', () => {
  valueOf({ ...login, eventId: 'a' });
  valueOf({ ...login, eventId: 'x'.repeat(128) });
  valueOf({ ...login, eventId: 'A.b_c:d-9' });
  for (const bad of ['', 'x'.repeat(129), 'a b', 'é', 'a/b', 'a\u0000']) {
    assert.ok(
      errorsOf({ ...login, eventId: bad }).some((e) => e.path === '/eventId'),
      bad,
    );
  }
});

test('userId: 1-128 chars without control characters', () => {
  valueOf({ ...login, userId: 'Ünïcødé 玩家 🎮' });
  valueOf({ ...login, userId: 'u'.repeat(128) });
  for (const bad of ['', 'u'.repeat(129), 'a\nb', 'a\u0000', 'a\u007f', 'a\u0085']) {
    assert.ok(
      errorsOf({ ...login, userId: bad }).some((e) => e.path === '/userId'),
      JSON.stringify(bad),
    );
  }
});

test('ts: RFC 3339 or epoch ms, from 2000-01-01 to 24 h after the server clock', () => {
  assert.equal(valueOf({ ...login, ts: '2026-11-25T12:00:00Z' }).ts, NOW);
  assert.equal(valueOf({ ...login, ts: '2026-11-25T13:00:00.5+01:00' }).ts, NOW + 500);
  assert.equal(valueOf({ ...login, ts: MIN_TS }).ts, MIN_TS);
  assert.equal(valueOf({ ...login, ts: NOW + 86400000 }).ts, NOW + 86400000);
  for (const bad of [
    MIN_TS - 1,
    NOW + 86400001,
    1.5,
    '2026-02-30T00:00:00Z',
    '2026-11-25',
    'yesterday',
    -1,
    '1999-12-31T23:59:59Z',
  ]) {
    assert.ok(
      errorsOf({ ...login, ts: bad }).some((e) => e.path === '/ts'),
      String(bad),
    );
  }
});

test('ip: IPv4 or IPv6, normalised', () => {
  assert.equal(valueOf({ ...login, ip: '::FFFF:1.2.3.4' }).ip, '1.2.3.4');
  assert.equal(valueOf({ ...login, ip: '::ffff:203.0.113.10' }).ip, '203.0.113.10');
  assert.equal(valueOf({ ...trade, ip: '::ffff:cb00:710a' }).ip, '203.0.113.10');
  assert.equal(valueOf({ ...login, ip: '0:0:0:0:0:0:0:1' }).ip, '::1');
  for (const bad of ['1.2.3', '256.1.1.1', '01.2.3.4', 'fe80::1%eth0', 'localhost', '1.2.3.4 ']) {
    assert.ok(
      errorsOf({ ...login, ip: bad }).some((e) => e.path === '/ip'),
      bad,
    );
  }
  assert.equal(normalizeIp('2001:0db8:0000:0000:0000:ff00:0042:8329'), '2001:db8::ff00:42:8329');
});

test('amount: finite, > 0, <= 1e12', () => {
  valueOf({ ...trade, amount: Number.MIN_VALUE });
  valueOf({ ...trade, amount: 1e12 });
  for (const bad of [0, -1, 1e12 + 1, '10', null]) {
    assert.ok(
      errorsOf({ ...trade, amount: bad }).some((e) => e.path === '/amount'),
      String(bad),
    );
  }
});

test('currency, itemId, counterpartyId: bounded text', () => {
  valueOf({ ...trade, currency: 'c'.repeat(16) });
  assert.ok(errorsOf({ ...trade, currency: 'c'.repeat(17) }).some((e) => e.path === '/currency'));
  assert.ok(errorsOf({ ...trade, currency: '' }).some((e) => e.path === '/currency'));
  assert.ok(errorsOf({ ...trade, itemId: 'i'.repeat(129) }).some((e) => e.path === '/itemId'));
});

test('parseRfc3339 rejects impossible dates and accepts leap seconds as :59', () => {
  assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
  assert.equal(parseRfc3339('2023-02-29T00:00:00Z'), undefined);
  assert.equal(parseRfc3339('2016-12-31T23:59:60Z'), Date.UTC(2016, 11, 31, 23, 59, 59));
  assert.equal(parseRfc3339('2024-01-01T24:00:00Z'), undefined);
});

test('decodeEvent round-trips records and names what is wrong with poison', () => {
  const ev = valueOf(trade);
  assert.deepEqual(decodeEvent(Buffer.from(encodeEvent(ev))), { ok: true, event: ev });
  assert.equal((decodeEvent(Buffer.from('{nope')) as { reason: string }).reason, 'not_json');
  const noServer = decodeEvent(Buffer.from(JSON.stringify({ ...trade, receivedAt: NOW })));
  assert.equal(noServer.ok, false);
  const unknownType = decodeEvent(
    Buffer.from(JSON.stringify({ ...trade, type: 'x', gameServerId: 'g', receivedAt: NOW })),
  );
  assert.deepEqual(unknownType, {
    ok: false,
    reason: 'invalid_event',
    detail: '/type: Expected "login" or "trade"',
  });
  assert.equal(decodeEvent(null).ok, false);
});
