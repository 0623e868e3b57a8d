// The state store's direct changelog paths (encodeInto, loadEncoded) must write and read exactly
// the bytes of the plain snapshot codec, old (v1) records must still restore, and IP codes must
// round-trip to the very same text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpInterner, ipv4Text, parseCanonicalIpv4 } from '../src/ip-interner.ts';
import { UserStateStore, hashEventId, hashEventIdParts } from '../src/user-state-store.ts';
import { decodeUserState, encodeUserState, type UserSnapshot } from '../src/user-state-codec.ts';

const IPS = [
  '10.0.0.1',
  '192.168.1.254',
  '::1',
  '2001:db8::7',
  '250.1.2.3',
  '0.0.0.0',
  '255.255.255.255',
  'A',
];

type Op = { kind: 'login'; ip: string; user: number } | { kind: 'trade'; amount: number; user: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('login' as const), ip: fc.constantFrom(...IPS), user: fc.nat(5) }),
  fc.record({
    kind: fc.constant('trade' as const),
    amount: fc.double({ min: 0.01, max: 1e12, noNaN: true }),
    user: fc.nat(5),
  }),
);

/** Applies ops to a store the way the detector does (every event is also marked seen). */
const build = (history: number, ops: Op[], pageSize: number) => {
  const store = new UserStateStore(history, new IpInterner(), pageSize);
  const hash = new Uint32Array(2);
  ops.forEach((op, i) => {
    const slot = store.slot(`u${op.user}`);
    hashEventIdParts(`e${i}`, hash);
    store.markSeen(slot, hash[0]!, hash[1]!);
    if (op.kind === 'login') store.login(slot, op.ip);
    else store.addTrade(slot, op.amount);
  });
  return store;
};

/** The v1 encoding (IPs always as text), as older processors wrote it. */
const encodeV1 = (s: UserSnapshot): Buffer => {
  const parts: Buffer[] = [Buffer.from([1, s.sessionIp === undefined ? 0 : 1])];
  const ip = (x: string) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x, 'latin1')]);
  if (s.sessionIp !== undefined) parts.push(ip(s.sessionIp));
  parts.push(Buffer.from([s.pastIps.length]), ...s.pastIps.map(ip), Buffer.from([s.amounts.length]));
  for (const a of s.amounts) {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(a);
    parts.push(b);
  }
  parts.push(Buffer.from([s.eventHashes.length]));
  for (const h of s.eventHashes) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(h);
    parts.push(b);
  }
  return Buffer.concat(parts);
};

test('encodeInto writes the bytes of encodeUserState(snapshot); loadEncoded reads them back (v2 and v1)', () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 200 }),
      fc.integer({ min: 1, max: 6 }),
      fc.constantFrom(1, 2, 4096),
      (ops, history, pageSize) => {
        const store = build(history, ops, pageSize);
        const buf = Buffer.alloc(store.maxEncodedSize + 3);
        for (let user = 0; user < 6; user++) {
          if (!store.has(`u${user}`)) continue;
          const slot = store.slot(`u${user}`);
          const snap = store.snapshot(slot);
          const end = store.encodeInto(slot, buf, 3);
          const bytes = buf.subarray(3, end);
          assert.deepEqual(bytes, encodeUserState(snap));
          assert.deepEqual(decodeUserState(bytes), snap);

          const other = new UserStateStore(history, new IpInterner(), pageSize);
          other.slot('someone-else');
          other.loadEncoded(`u${user}`, Buffer.from(bytes));
          assert.deepEqual(other.snapshot(other.slot(`u${user}`)), snap);
          other.loadEncoded(`u${user}`, encodeV1(snap));
          assert.deepEqual(other.snapshot(other.slot(`u${user}`)), snap);
          assert.deepEqual(decodeUserState(encodeV1(snap)), snap);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('loading a longer history than the store keeps the newest entries', () => {
  const big = build(
    5,
    [...Array(30).keys()].map((i) => ({ kind: 'trade', amount: i + 1, user: 0 }) satisfies Op),
    4,
  );
  const snap = big.snapshot(big.slot('u0'));
  const small = new UserStateStore(2, new IpInterner());
  small.loadEncoded('u0', encodeUserState(snap));
  const got = small.snapshot(small.slot('u0'));
  assert.deepEqual(got.amounts, [29, 30]);
  assert.deepEqual(got.eventHashes, snap.eventHashes.slice(-5));
});

test('bad records are rejected, not half-loaded silently', () => {
  const store = new UserStateStore(3, new IpInterner());
  assert.throws(() => store.loadEncoded('u', Buffer.from([9])), /unknown state version/);
  const good = encodeUserState({
    sessionIp: '1.2.3.4',
    pastIps: ['5.6.7.8'],
    amounts: [1],
    eventHashes: [1n],
  });
  for (let cut = 1; cut < good.length; cut++) {
    assert.throws(() => store.loadEncoded('u', good.subarray(0, cut)), /truncated/);
  }
});

test('only canonical IPv4 text below 240.0.0.0 is coded by value; every code maps back to its text', () => {
  for (const ip of ['0.0.0.0', '1.2.3.4', '10.255.0.9', '239.255.255.255', '192.168.100.1']) {
    const v = parseCanonicalIpv4(ip);
    assert.ok(v >= 0, ip);
    assert.equal(ipv4Text(v), ip);
  }
  for (const ip of [
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1..2.3',
    '240.0.0.1',
    '::1',
    'A',
    '1.2.3.4 ',
    '',
  ]) {
    assert.equal(parseCanonicalIpv4(ip), -1, ip);
  }
  const ips = new IpInterner();
  for (const ip of [...IPS, '01.2.3.4', 'fe80::1']) assert.equal(ips.lookup(ips.intern(ip)), ip);
  assert.equal(ips.intern('::1'), ips.intern('::1'));
  assert.notEqual(ips.intern('250.1.2.3'), ips.intern('::1'));
  // State written before IPv4-mapped addresses were normalised holds them as text: same IP.
  assert.equal(ips.intern('::ffff:203.0.113.10'), ips.intern('203.0.113.10'));
  assert.equal(ips.intern('::ffff:250.1.2.3'), ips.intern('250.1.2.3'));
  assert.equal(ips.lookup(ips.intern('::ffff:10.0.0.1')), '10.0.0.1');
  assert.notEqual(ips.intern('::ffff:0:102:304'), ips.intern('1.2.3.4'));
});

test('each changed user is reported once per takeDirty, across pages', () => {
  const store = new UserStateStore(2, new IpInterner(), 2);
  for (let i = 0; i < 9; i++) store.addTrade(store.slot(`u${i}`), 1);
  store.addTrade(store.slot('u3'), 2);
  store.login(store.slot('u3'), '1.1.1.1');
  assert.deepEqual(
    store.takeDirty().sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(store.takeDirty(), []);
  store.addTrade(store.slot('u8'), 3);
  assert.deepEqual(
    store.takeDirty().map((s) => store.userIdOf(s)),
    ['u8'],
  );
});

test('hashEventIdParts and hashEventId agree', () => {
  const parts = new Uint32Array(2);
  for (const id of ['a', 'evt-1', 'x'.repeat(128)]) {
    hashEventIdParts(id, parts);
    assert.equal(hashEventId(id), (BigInt(parts[1]!) << 32n) | BigInt(parts[0]!));
  }
});
