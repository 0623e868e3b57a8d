// The Redis adapters of the ledger and the rate gate against the shared Redis, each test under its
// own key prefix; two adapter instances stand for two gateway instances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAcceptedLedger } from '../src/idempotency.ts';
import type { AcceptedRecord } from '../src/ports.ts';
import { RedisRateGate } from '../src/rate-limit.ts';
import { createRedis, type Redis } from '../src/redis.ts';
import { REDIS_URL, testLogger, uniqueName, waitUntil } from '../../../test/support/harness.ts';

const connect = async () => {
  const r = createRedis({ url: REDIS_URL, logger: testLogger('gateway-it') });
  await r.connect();
  return r;
};

const req = (eventId: string, fingerprint = 'f'.repeat(16)) => ({ eventId, fingerprint });
const record = (eventId: string, fingerprint = 'f'.repeat(16)): AcceptedRecord => ({
  eventId,
  fingerprint,
  gameServerId: 'gs-1',
  type: 'trade',
  userId: 'player|"42"',
  receivedAt: 1795608000123,
  partition: 2,
  offset: 48812,
});

/** Deletes the test's keys (SCAN, not KEYS: the shared Redis may hold millions of others). */
const dropKeys = async (r: Redis, prefix: string): Promise<void> => {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await r.del(...keys);
    cursor = next;
  } while (cursor !== '0');
};

test(
  'ledger: claims are atomic across instances, released only by their owner, and expire',
  { timeout: 20_000 },
  async () => {
    const [r1, r2] = await Promise.all([connect(), connect()]);
    const prefix = `${uniqueName('ledger')}:`;
    try {
      const a = new RedisAcceptedLedger(r1, 60, prefix);
      const b = new RedisAcceptedLedger(r2, 60, prefix);
      const claims = await Promise.all([
        a.claim('live', [req('x'), req('y')], 'req-a', 10_000),
        b.claim('live', [req('y'), req('x')], 'req-b', 10_000),
      ]);
      const winners = [claims[0][0], claims[1][1]]; // both about 'x'
      assert.deepEqual(winners.toSorted(), ['claimed', 'pending'], 'exactly one instance owns x');

      await b.release('live', ['x', 'y'], 'req-b');
      await a.release('live', ['x'], 'req-b'); // not req-b's claim if a won: stays
      const owner = claims[0][0] === 'claimed' ? 'req-a' : 'req-b';
      assert.deepEqual(await b.claim('live', [req('x')], 'req-c', 10_000), [
        owner === 'req-a' ? 'pending' : 'claimed',
      ]);

      await a.markAccepted('live', [record('x')]);
      assert.deepEqual(await b.claim('live', [req('x'), req('z')], 'req-d', 10_000), ['accepted', 'claimed']);
      assert.ok((await r1.ttl(`${prefix}event:x`)) > 50, 'accepted ids live for the window');
      // Counted per minute of receipt, in the same step, for the loss audit; kept far longer.
      const minute = Math.floor(record('x').receivedAt / 60000);
      await b.markAccepted('live', [record('z'), { ...record('late'), receivedAt: (minute + 1) * 60000 }]);
      assert.equal(await r1.get(`${prefix}accepted:live:${minute}`), '2');
      assert.equal(await r1.get(`${prefix}accepted:live:${minute + 1}`), '1');
      assert.equal(await r1.get(`${prefix}accepted:sandbox:${minute}`), null);
      assert.ok((await r1.ttl(`${prefix}accepted:live:${minute}`)) > 30 * 24 * 3600);

      // A claim extended by its owner outlives its first TTL; another owner cannot extend it.
      assert.deepEqual(await a.claim('live', [req('kept')], 'req-k', 200), ['claimed']);
      await b.extend('live', ['kept'], 'req-other', 60_000);
      assert.ok((await r1.pttl(`${prefix}event:kept`)) <= 200);
      await b.extend('live', ['kept'], 'req-k', 60_000);
      assert.ok((await r1.pttl(`${prefix}event:kept`)) > 50_000);

      assert.deepEqual(await a.claim('live', [req('short')], 'req-e', 150), ['claimed']);
      await waitUntil(
        'the claim to expire',
        async () => (await b.claim('live', [req('short')], 'req-f', 10_000))[0] === 'claimed',
        5000,
        10,
      );
    } finally {
      await dropKeys(r1, prefix).finally(() => {
        r1.disconnect();
        r2.disconnect();
      });
    }
  },
);

test(
  'ledger: an accepted id keeps its fingerprint and where it is; another content is a conflict',
  { timeout: 20_000 },
  async () => {
    const r = await connect();
    const prefix = `${uniqueName('ledger-record')}:`;
    try {
      const ledger = new RedisAcceptedLedger(r, 60, prefix);
      const other = 'o'.repeat(16);
      assert.deepEqual(await ledger.claim('live', [req('e1')], 'req-a', 10_000), ['claimed']);
      await ledger.markAccepted('live', [record('e1')]);
      assert.deepEqual(await ledger.lookup('live', 'e1'), record('e1'));
      assert.deepEqual(await ledger.claim('live', [req('e1'), req('e1', other)], 'req-b', 10_000), [
        'accepted',
        'conflict',
      ]);
      assert.equal(await ledger.lookup('live', 'unknown'), undefined);
      assert.deepEqual(await ledger.claim('live', [req('e2')], 'req-c', 10_000), ['claimed']);
      assert.equal(await ledger.lookup('live', 'e2'), undefined, 'a claim is not an accepted event');

      // Sandbox ids are a namespace of their own.
      assert.deepEqual(await ledger.claim('sandbox', [req('e1', other)], 'req-d', 10_000), ['claimed']);
      await ledger.markAccepted('sandbox', [record('e1', other)]);
      assert.equal((await ledger.lookup('sandbox', 'e1'))?.fingerprint, other);
      assert.equal((await ledger.lookup('live', 'e1'))?.fingerprint, 'f'.repeat(16));

      // What gateways wrote before the ledger kept records: accepted, no record, no conflict.
      await r.set(`${prefix}event:legacy`, 'a', 'EX', 60);
      assert.deepEqual(await ledger.claim('live', [req('legacy', other)], 'req-e', 10_000), ['accepted']);
      assert.equal(await ledger.lookup('live', 'legacy'), undefined);

      // The first alerts mark is kept; later ones are not taken.
      let taken = 0;
      const take = (v: number) => () => {
        taken++;
        return Promise.resolve(v);
      };
      assert.equal(await ledger.alertsMarkOnce('live', 'e1', take(17)), 17);
      assert.equal(await ledger.alertsMarkOnce('live', 'e1', take(99)), 17);
      assert.equal(taken, 1);
      assert.equal(await ledger.alertsMarkOnce('sandbox', 'e1', take(5)), 5);

      // What the record costs in Redis beyond the bare mark of before (the README's estimate).
      const id = 'gs-eu-1:trade:' + '9'.repeat(12);
      await r.set(`${prefix}event:${id}-bare`, 'a', 'EX', 60);
      await ledger.markAccepted('live', [{ ...record(`${id}-full`), userId: 'player-000042' }]);
      const usage = async (key: string) => Number(await r.call('MEMORY', 'USAGE', `${prefix}event:${key}`));
      const extra = (await usage(`${id}-full`)) - (await usage(`${id}-bare`));
      assert.ok(extra > 0 && extra <= 80, `the record adds ${extra} bytes per accepted event`);
    } finally {
      await dropKeys(r, prefix).finally(() => r.disconnect());
    }
  },
);

test(
  'rate gate: one budget per game server, shared by instances, with Retry-After',
  { timeout: 20_000 },
  async () => {
    const [r1, r2] = await Promise.all([connect(), connect()]);
    const prefix = `${uniqueName('rate')}:`;
    try {
      const a = new RedisRateGate(r1, 100, prefix);
      const b = new RedisRateGate(r2, 100, prefix);
      assert.equal((await a.take('gs-1', 60)).allowed, true);
      const denied = await b.take('gs-1', 50);
      assert.equal(denied.allowed, false, 'the second instance sees the first one’s usage');
      assert.equal(denied.retryAfterSec, 1);
      assert.equal(
        (await b.take('gs-1', 40)).allowed,
        true,
        'a refused request takes nothing from the budget',
      );
      assert.equal((await a.take('gs-1', 1)).allowed, false);
      assert.equal((await a.take('gs-2', 100)).allowed, true, 'budgets are per game server');
      await waitUntil('the window to roll over', async () => (await a.take('gs-1', 100)).allowed, 5000, 10);
    } finally {
      await dropKeys(r1, prefix).finally(() => {
        r1.disconnect();
        r2.disconnect();
      });
    }
  },
);
