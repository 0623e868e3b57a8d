// The Redis adapters of the ledger and the rate gate against the shared Redis, each test under its
// own key prefix; two adapter instances stand for two gateway instances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisAcceptedLedger } from '../src/idempotency.ts';
import { RedisRateGate } from '../src/rate-limit.ts';
import { createRedis } from '../src/redis.ts';
import { waitFor } from './support/memory-ports.ts';
import { REDIS_URL, quietLogger, uniqueName } from './support/infra.ts';

const connect = async () => {
  const r = createRedis({ url: REDIS_URL, logger: quietLogger() });
  await r.connect();
  return r;
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
        a.claim(['x', 'y'], 'req-a', 10_000),
        b.claim(['y', 'x'], 'req-b', 10_000),
      ]);
      const winners = [claims[0][0], claims[1][1]]; // both about 'x'
      assert.deepEqual(winners.toSorted(), ['claimed', 'pending'], 'exactly one instance owns x');

      await b.release(['x', 'y'], 'req-b');
      await a.release(['x'], 'req-b'); // not req-b's claim if a won: stays
      const owner = claims[0][0] === 'claimed' ? 'req-a' : 'req-b';
      assert.deepEqual(await b.claim(['x'], 'req-c', 10_000), [owner === 'req-a' ? 'pending' : 'claimed']);

      await a.markAccepted(['x']);
      assert.deepEqual(await b.claim(['x', 'z'], 'req-d', 10_000), ['accepted', 'claimed']);
      assert.ok((await r1.ttl(`${prefix}event:x`)) > 50, 'accepted ids live for the window');

      assert.deepEqual(await a.claim(['short'], 'req-e', 150), ['claimed']);
      await waitFor(
        async () => (await b.claim(['short'], 'req-f', 10_000))[0] === 'claimed',
        5000,
        'the claim to expire',
      );
    } finally {
      const keys = await r1.keys(`${prefix}*`);
      if (keys.length > 0) await r1.del(...keys);
      r1.disconnect();
      r2.disconnect();
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
      await waitFor(async () => (await a.take('gs-1', 100)).allowed, 5000, 'the window to roll over');
    } finally {
      const keys = await r1.keys(`${prefix}*`);
      if (keys.length > 0) await r1.del(...keys);
      r1.disconnect();
      r2.disconnect();
    }
  },
);
