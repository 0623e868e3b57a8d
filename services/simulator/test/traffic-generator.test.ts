// The simulator's traffic model: deterministic for a seed, and a player's home IPs are the
// player's own whatever the run's seed, so that a second run meets the players of the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficGenerator } from '../src/traffic-generator.ts';

const run = (seed: number, n = 20000) => {
  const gen = new TrafficGenerator({ users: 50, seed, takeoverRate: 0, runId: `r${seed}` });
  return Array.from({ length: n }, (_, i) => gen.next(1_800_000_000_000 + i));
};

/** The IPs each player logged in from. */
const loginIps = (events: ReturnType<typeof run>) => {
  const ips = new Map<string, Set<string>>();
  for (const e of events)
    if (e.type === 'login') ips.set(e.userId, (ips.get(e.userId) ?? new Set()).add(e.ip!));
  return ips;
};

test('the same seed gives the same traffic', () => {
  assert.deepEqual(run(5, 2000), run(5, 2000));
});

test('without takeovers, runs with other seeds see each player log in from the same home IPs', () => {
  const a = loginIps(run(1));
  const b = loginIps(run(2));
  assert.equal(a.size, 50);
  for (const [user, ips] of b) {
    for (const ip of ips) assert.ok(a.get(user)?.has(ip), `${user} logged in from ${ip} in one run only`);
  }
  assert.notDeepEqual(run(1, 200), run(2, 200), 'the seeds still decide the traffic');
});

test('takeovers log in from outside the home IPs', () => {
  const gen = new TrafficGenerator({ users: 20, seed: 3, takeoverRate: 0.2, runId: 't' });
  const events = Array.from({ length: 20000 }, (_, i) => gen.next(i));
  const homes = loginIps(run(9));
  const foreign = events.filter((e) => e.type === 'login' && e.ip!.startsWith('203.'));
  assert.ok(gen.takeovers > 0 && foreign.length > 0);
  for (const e of foreign) assert.equal(homes.get(e.userId)?.has(e.ip!) ?? false, false);
});
