import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GameEvent } from '@tradewatch/shared/events';
import { referenceAlerts } from '../../test/support/reference-rule.ts';
import { IpInterner } from '../src/ip-interner.ts';
import { RuleEngine } from '../src/rule-engine.ts';
import { RuleBook, SEED_RULE, type RuleDefinition } from '../src/rules.ts';
import { UserStateStore } from '../src/user-state-store.ts';
import { decodeUserState, encodeUserState } from '../src/user-state-codec.ts';

interface RuleParams {
  history: number;
  minTrades: number;
  amountFactor: number;
}
const DEFAULT_RULE_PARAMS: RuleParams = { history: 20, minTrades: 5, amountFactor: 3 };

/** The engine with one version of the seed rule, of these thresholds, over a store of `history`. */
const engineOf = (p: RuleParams) => {
  const version: RuleDefinition = {
    ...SEED_RULE,
    type: 'large-trade-new-ip',
    params: { minTrades: p.minTrades, amountFactor: p.amountFactor, minAmount: 0, currencies: {} },
  };
  return new RuleEngine(new RuleBook([version]), p.history);
};
const firstAlert = (o: ReturnType<RuleEngine['apply']>) =>
  o.kind === 'applied' ? o.alerts?.find((a) => !a.shadow)?.alert : undefined;

let seq = 0;
const base = (userId = 'u') => ({
  eventId: `e${seq++}`,
  userId,
  ts: 1_700_000_000_000,
  gameServerId: 'gs',
  receivedAt: 1_700_000_000_000,
});
const login = (ip: string, userId = 'u'): GameEvent => ({ ...base(userId), type: 'login', ip });
const trade = (amount: number, userId = 'u'): GameEvent => ({
  ...base(userId),
  type: 'trade',
  amount,
  currency: 'gold',
});

const run = (events: GameEvent[], params: RuleParams = DEFAULT_RULE_PARAMS) => {
  const store = new UserStateStore(params.history, new IpInterner(), 4);
  const d = engineOf(params);
  return events.flatMap((ev) => {
    const a = firstAlert(d.apply(store, ev, 42));
    return a ? [a] : [];
  });
};

const trades = (...amounts: number[]) => amounts.map((a) => trade(a));

test('a large trade from a new IP after enough history raises one alert with the spec fields', () => {
  const events = [login('1.1.1.1'), ...trades(10, 10, 10, 10, 10), login('9.9.9.9'), trade(31)];
  const alerts = run(events);
  assert.equal(alerts.length, 1);
  const a = alerts[0]!;
  const t = events.at(-1)!;
  assert.equal(a.rule, 'large-trade-new-ip');
  assert.equal(a.ruleVersion, 1);
  assert.equal(a.tradeEventId, t.eventId);
  assert.equal(a.baseline, 10);
  assert.equal(a.factor, 3.1);
  assert.equal(a.ip, '9.9.9.9');
  assert.deepEqual(a.knownIps, ['1.1.1.1']);
  assert.equal(a.previousTrades, 5);
  assert.equal(a.gameServerId, 'gs');
  assert.equal(a.detectedAt, 42);
  assert.match(a.alertId, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('exactly at the threshold is not large', () => {
  assert.equal(run([login('1.1.1.1'), ...trades(10, 10, 10, 10, 10), login('9.9.9.9'), trade(30)]).length, 0);
});

test('the median of an even count is the mean of the two middle values', () => {
  // previous = 1, 2, 10, 20, 30, 40 → median (10 + 20) / 2 = 15; threshold 45
  const head = [login('1.1.1.1'), ...trades(40, 1, 30, 2, 20, 10), login('9.9.9.9')];
  assert.equal(run([...head, trade(45)]).length, 0);
  const alerts = run([login('1.1.1.1'), ...trades(40, 1, 30, 2, 20, 10), login('9.9.9.9'), trade(45.01)]);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]!.baseline, 15);
});

test('fewer than MIN_TRADES previous trades never alert', () => {
  assert.equal(run([login('1.1.1.1'), ...trades(1, 1, 1, 1), login('9.9.9.9'), trade(1000)]).length, 0);
});

test('the first login has no past session, so no IP is new', () => {
  assert.equal(run([...trades(1, 1, 1, 1, 1), login('9.9.9.9'), trade(1000)]).length, 0);
  assert.equal(run([...trades(1, 1, 1, 1, 1), trade(1000)]).length, 0);
});

test('a session IP seen in any of the last HISTORY past sessions is not new', () => {
  const events = [login('1.1.1.1'), login('2.2.2.2'), login('1.1.1.1'), ...trades(1, 1, 1, 1, 1), trade(100)];
  assert.equal(run(events).length, 0);
});

test('only the last HISTORY past sessions count', () => {
  const p = { history: 2, minTrades: 1, amountFactor: 3 };
  // past sessions after the logins: [B, C]; current A — A fell out of the window, so it is new
  const events = [login('A'), login('B'), login('C'), login('A'), trade(1), trade(10)];
  assert.equal(run(events, p).length, 1);
});

test('a duplicate eventId changes nothing and raises nothing', () => {
  const events = [login('1.1.1.1'), ...trades(10, 10, 10, 10, 10), login('9.9.9.9')];
  const big = trade(100);
  assert.equal(run([...events, big, big]).length, 1);
  const dupLogin = events[0]!;
  // replaying the first login would otherwise make 1.1.1.1 the current session
  assert.equal(run([...events, dupLogin, big]).length, 1);
});

test('a flagged trade joins the history', () => {
  const events = [
    login('1.1.1.1'),
    ...trades(10, 10, 10, 10, 10),
    login('9.9.9.9'),
    trade(100),
    trade(100),
    trade(100),
  ];
  // medians: 10 → alert; then 10 (6 values: 10,10,10,10,10,100 → 10) → alert; then [10×5,100,100] → 10 → alert
  assert.equal(run(events).length, 3);
});

test('state survives an encode/decode round trip exactly', () => {
  const store = new UserStateStore(3, new IpInterner(), 2);
  const d = engineOf({ history: 3, minTrades: 1, amountFactor: 3 });
  for (const ev of [
    login('1.1.1.1'),
    login('::1'),
    trade(1.5),
    trade(2.25),
    trade(3),
    trade(7),
    login('5.5.5.5'),
  ])
    d.apply(store, ev, 0);
  const snap = store.snapshot(store.slot('u'));
  assert.deepEqual(decodeUserState(encodeUserState(snap)), snap);
  assert.equal(snap.amounts.length, 3);
  assert.deepEqual(snap.amounts, [2.25, 3, 7]);
  assert.deepEqual(snap.pastIps, ['1.1.1.1', '::1']);
  const other = new UserStateStore(3, new IpInterner());
  other.load('u', decodeUserState(encodeUserState(snap)));
  assert.deepEqual(other.snapshot(other.slot('u')), snap);
});

test('agrees with the reference implementation on random streams, also across a restore', () => {
  const ips = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '::1', '4.4.4.4', '5.5.5.5', '6.6.6.6', '7.7.7.7', '::8'];
  const eventArb = fc.oneof(
    fc.record({
      kind: fc.constant('login' as const),
      ip: fc.constantFrom(...ips),
      user: fc.integer({ min: 0, max: 3 }),
    }),
    fc.record({
      kind: fc.constant('trade' as const),
      amount: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.double({ min: 0.01, max: 500, noNaN: true })),
      user: fc.integer({ min: 0, max: 3 }),
    }),
    fc.record({ kind: fc.constant('dup' as const), back: fc.integer({ min: 1, max: 30 }) }),
  );
  fc.assert(
    fc.property(
      fc.array(eventArb, { minLength: 20, maxLength: 300, size: 'max' }),
      fc.record({
        history: fc.integer({ min: 1, max: 6 }),
        minTrades: fc.integer({ min: 1, max: 5 }),
        amountFactor: fc.constantFrom(1, 2, 3),
      }),
      fc.integer({ min: 0, max: 300 }),
      (specs, params, restoreAt) => {
        const events: GameEvent[] = [];
        for (const s of specs) {
          if (s.kind === 'dup') {
            const prev = events[events.length - s.back];
            if (prev) events.push(prev);
          } else if (s.kind === 'login') events.push(login(s.ip, `u${s.user}`));
          else events.push(trade(s.amount, `u${s.user}`));
        }
        const expected = referenceAlerts(events, params).map((a) => [
          a.alertId,
          a.baseline,
          a.ip,
          a.knownIps,
          a.previousTrades,
        ]);

        // The detector, with its state moved through the changelog encoding at `restoreAt`.
        let store = new UserStateStore(params.history, new IpInterner(), 2);
        const d = engineOf(params);
        const got: unknown[] = [];
        events.forEach((ev, i) => {
          if (i === restoreAt) {
            const next = new UserStateStore(params.history, new IpInterner(), 2);
            for (const u of ['u0', 'u1', 'u2', 'u3']) {
              if (!store.has(u)) continue;
              // The processor's own path: encoded from the columns, loaded into the columns.
              const buf = Buffer.alloc(store.maxEncodedSize);
              next.loadEncoded(u, buf.subarray(0, store.encodeInto(store.slot(u), buf, 0)));
            }
            store = next;
          }
          const a = firstAlert(d.apply(store, ev, 0));
          if (a) got.push([a.alertId, a.baseline, a.ip, a.knownIps, a.previousTrades]);
        });
        assert.deepEqual(got, expected);
      },
    ),
    { numRuns: 400 },
  );
});
