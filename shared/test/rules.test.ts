// Rule definitions as data, without I/O: what validation refuses (every problem, by path), how a
// new version is made from an admin's draft, which version applies to an event by its time, and
// the engine against the plain reference on random streams under random rule histories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GameEvent } from '../src/events.ts';
import { IpInterner } from '../src/ip-interner.ts';
import { RuleEngine } from '../src/rule-engine.ts';
import {
  checkRuleDefinition,
  decodeRuleRecord,
  encodeRule,
  nextRuleVersion,
  RuleBook,
  RuleInvalidError,
  SEED_RULE,
  type RuleDefinition,
} from '../src/rules.ts';
import { UserStateStore } from '../src/user-state-store.ts';
import { referenceRuleAlerts } from '../../test/support/reference-rule.ts';

const T0 = 1_800_000_000_000;
const version = (v: Partial<RuleDefinition> & Pick<RuleDefinition, 'version'>): RuleDefinition =>
  ({ ...SEED_RULE, author: 'admin', reason: 'test', createdAt: T0, ...v }) as RuleDefinition;

test('a definition with many problems is refused with every one of them, by path', () => {
  const checked = checkRuleDefinition({
    ruleId: 'Bad Id',
    version: 0,
    type: 'large-trade-new-ip',
    mode: 'loud',
    params: { minTrades: 0, amountFactor: -1, currencies: { gems: { amountFactor: 'x' } }, extra: 1 },
    effectiveFrom: -5,
    author: '',
    reason: 'why',
    createdAt: T0,
    colour: 'red',
  });
  assert.equal(checked.ok, false);
  assert.deepEqual(!checked.ok && checked.problems, [
    '/colour: unknown field',
    '/ruleId: expected a rule id: 1-64 of a-z 0-9 . _ -, starting with a letter or digit',
    '/version: expected an integer 1-65535',
    '/mode: expected one of active, shadow, disabled',
    '/effectiveFrom: expected an integer 0-4294967295000',
    '/author: expected a non-empty string of at most 128 characters without control characters',
    '/params/extra: unknown field',
    '/params/minTrades: expected an integer 1-20',
    '/params/amountFactor: expected a number over 0 to 1000000',
    '/params/currencies/gems/amountFactor: expected a number over 0 to 1000000',
  ]);
  assert.equal(checkRuleDefinition('nope').ok, false);
  assert.equal(checkRuleDefinition({ ...SEED_RULE, type: 'other' }).ok, false);
});

test('parameters default to the seed values and round-trip through the record codec', () => {
  const checked = checkRuleDefinition({ ...SEED_RULE, params: { amountFactor: 4 } });
  assert.ok(checked.ok);
  assert.deepEqual(checked.definition.params, {
    minTrades: 5,
    amountFactor: 4,
    minAmount: 0,
    currencies: {},
  });
  const encoded = encodeRule(checked.definition);
  assert.deepEqual(decodeRuleRecord(SEED_RULE.ruleId, encoded), { ok: true, definition: checked.definition });
  assert.deepEqual(decodeRuleRecord('other-rule', encoded), {
    ok: false,
    reason: 'key_mismatch',
    detail: 'record key is not the rule id',
  });
  assert.equal(decodeRuleRecord(SEED_RULE.ruleId, '{').ok, false);
  const drain = checkRuleDefinition({
    ...SEED_RULE,
    ruleId: 'drain',
    type: 'drain-recent-volume',
    params: {},
  });
  assert.ok(drain.ok);
  assert.deepEqual(drain.definition.params, {
    minTrades: 5,
    minShare: 0.8,
    minAmount: 0,
    requireNewIp: false,
  });
});

test('a draft becomes the next version; what the desk sets cannot be sent; a type stays its rule', () => {
  const v2 = nextRuleVersion(
    'large-trade-new-ip',
    { type: 'large-trade-new-ip', mode: 'shadow', params: { amountFactor: 5 }, reason: 'tune' },
    [SEED_RULE],
    'alice',
    T0,
  );
  assert.equal(v2.version, 2);
  assert.equal(v2.author, 'alice');
  assert.equal(v2.createdAt, T0);
  assert.equal(v2.effectiveFrom, T0, 'in force from now unless said');
  const refused = (draft: unknown, versions: RuleDefinition[] = [SEED_RULE, v2]) => {
    try {
      nextRuleVersion('large-trade-new-ip', draft, versions, 'alice', T0);
    } catch (err) {
      assert.ok(err instanceof RuleInvalidError);
      return err.problems;
    }
    return assert.fail('accepted');
  };
  assert.deepEqual(
    refused({ type: 'large-trade-new-ip', mode: 'active', reason: 'x', version: 9, author: 'me' }),
    ['/version: is set by the desk, leave it out', '/author: is set by the desk, leave it out'],
  );
  assert.deepEqual(refused({ type: 'drain-recent-volume', mode: 'active', reason: 'x' }), [
    '/type: rule large-trade-new-ip is of type large-trade-new-ip; a new type needs a new rule id',
  ]);
  assert.deepEqual(refused({ ruleId: 'x', type: 'large-trade-new-ip', mode: 'active' }), [
    "/ruleId: differs from the path's large-trade-new-ip",
    '/reason: expected a non-empty string of at most 1000 characters without control characters',
  ]);
  assert.deepEqual(refused([]), ['/: expected an object']);
});

test('the version an event gets is the highest in force by its time; shadow runs beside, disabled silences', () => {
  const book = new RuleBook([
    SEED_RULE,
    version({ version: 2, mode: 'shadow', effectiveFrom: 100 }),
    version({ version: 3, mode: 'active', effectiveFrom: 200 }),
    version({ version: 4, mode: 'shadow', effectiveFrom: 300 }),
    version({ version: 5, mode: 'disabled', effectiveFrom: 400 }),
    version({ version: 6, mode: 'shadow', effectiveFrom: 500 }),
  ]);
  const at = (ts: number) => {
    const a = book.applicable('large-trade-new-ip', ts);
    return [a.active?.version, a.shadow?.version];
  };
  assert.deepEqual(at(0), [1, undefined]);
  assert.deepEqual(at(150), [1, 2]);
  assert.deepEqual(at(250), [3, undefined], 'a shadow older than the governing version is over');
  assert.deepEqual(at(350), [3, 4]);
  assert.deepEqual(at(450), [undefined, undefined], 'disabled');
  assert.deepEqual(at(550), [undefined, 6], 'a shadow beside a disabled rule');
  assert.deepEqual(book.applicable('unknown', 0), { active: undefined, shadow: undefined });
});

test('the book keeps the first definition of a version, ignores a replay, and lets a topic version 1 replace the seed', () => {
  const book = new RuleBook();
  const v2 = version({ version: 2, effectiveFrom: 10 });
  assert.equal(book.add(v2), 'added');
  assert.equal(book.add({ ...v2 }), 'duplicate');
  assert.equal(book.add({ ...v2, reason: 'another writer' }), 'conflict');
  assert.equal(book.versions('large-trade-new-ip')[0]!.reason, 'test');
  const v1 = version({ version: 1, reason: 'from the topic' });
  assert.equal(book.add(v1), 'added');
  assert.deepEqual(
    book.versions('large-trade-new-ip').map((v) => [v.version, v.reason]),
    [
      [2, 'test'],
      [1, 'from the topic'],
    ],
  );
});

// Random streams of a few users, and random histories of both rule types.
const IPS = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '::1', '4.4.4.4'];
const eventArb = fc.oneof(
  fc.record({
    kind: fc.constant('login' as const),
    ip: fc.constantFrom(...IPS),
    user: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    kind: fc.constant('trade' as const),
    amount: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0.01, max: 600, noNaN: true })),
    currency: fc.constantFrom('gold', 'gems'),
    user: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({ kind: fc.constant('dup' as const), back: fc.integer({ min: 1, max: 20 }) }),
);
const versionArb = fc.oneof(
  fc.record({
    ruleId: fc.constant('large-trade-new-ip'),
    type: fc.constant('large-trade-new-ip' as const),
    params: fc.record({
      minTrades: fc.integer({ min: 1, max: 6 }),
      amountFactor: fc.constantFrom(1, 1.5, 2, 3),
      minAmount: fc.constantFrom(0, 20),
      currencies: fc.constantFrom(
        {},
        { gems: { amountFactor: 1.2 } },
        { gold: { minTrades: 2, minAmount: 5 } },
      ),
    }),
  }),
  fc.record({
    ruleId: fc.constant('drain'),
    type: fc.constant('drain-recent-volume' as const),
    params: fc.record({
      minTrades: fc.integer({ min: 1, max: 6 }),
      minShare: fc.constantFrom(0.3, 0.5, 0.8),
      minAmount: fc.constantFrom(0, 20),
      requireNewIp: fc.boolean(),
    }),
  }),
);

test('the engine raises exactly the reference alerts under any rule history, also across a restore', () => {
  fc.assert(
    fc.property(
      fc.array(eventArb, { minLength: 20, maxLength: 250 }),
      fc.array(
        fc.record({
          spec: versionArb,
          mode: fc.constantFrom<RuleDefinition['mode'][]>('active', 'shadow', 'disabled'),
          effectiveFrom: fc.integer({ min: 0, max: 250 }),
        }),
        { maxLength: 6 },
      ),
      fc.integer({ min: 0, max: 250 }),
      (specs, history, restoreAt) => {
        const events: GameEvent[] = [];
        for (const s of specs) {
          if (s.kind === 'dup') {
            const prev = events[events.length - s.back];
            if (prev) events.push(prev);
            continue;
          }
          const base = {
            eventId: `e${events.length}`,
            userId: `u${s.user}`,
            ts: T0 + events.length,
            gameServerId: 'gs',
            receivedAt: T0,
          };
          events.push(
            s.kind === 'login'
              ? { ...base, type: 'login', ip: s.ip }
              : { ...base, type: 'trade', amount: s.amount, currency: s.currency },
          );
        }
        const counts = new Map<string, number>([['large-trade-new-ip', 1]]);
        const versions: RuleDefinition[] = [SEED_RULE];
        for (const h of history) {
          const n = (counts.get(h.spec.ruleId) ?? 0) + 1;
          counts.set(h.spec.ruleId, n);
          versions.push({
            ...version({ version: n }),
            ...h.spec,
            mode: h.mode,
            effectiveFrom: T0 + h.effectiveFrom,
          });
        }
        const key = (a: {
          alertId: string;
          ruleVersion: number;
          shadow: boolean;
          baseline: number;
          ip: string;
          knownIps: string[];
          previousTrades: number;
        }) =>
          JSON.stringify([
            a.alertId,
            a.ruleVersion,
            a.shadow,
            a.baseline,
            a.ip,
            a.knownIps,
            a.previousTrades,
          ]);
        const expected = referenceRuleAlerts(events, versions, 20).map(key);

        const engine = new RuleEngine(new RuleBook(versions), 20);
        let store = new UserStateStore(20, new IpInterner(), 2);
        const got: string[] = [];
        events.forEach((ev, i) => {
          if (i === restoreAt) {
            const next = new UserStateStore(20, new IpInterner(), 2);
            for (const u of ['u0', 'u1', 'u2']) {
              if (!store.has(u)) continue;
              const buf = Buffer.alloc(store.maxEncodedSize);
              next.loadEncoded(u, buf.subarray(0, store.encodeInto(store.slot(u), buf, 0)));
            }
            store = next;
          }
          const o = engine.apply(store, ev, 0);
          if (o.kind === 'applied')
            for (const a of o.alerts ?? []) got.push(key({ ...a.alert, shadow: a.shadow }));
        });
        assert.deepEqual(got, expected);
      },
    ),
    { numRuns: 300 },
  );
});

test('drain-recent-volume: a trade of most of the recent volume, with its share and minimum', () => {
  const d = version({
    version: 1,
    ruleId: 'drain',
    type: 'drain-recent-volume',
    params: { minTrades: 3, minShare: 0.75, minAmount: 50, requireNewIp: false },
  });
  const engine = new RuleEngine(new RuleBook([d]), 20);
  const store = new UserStateStore(20, new IpInterner());
  const ev = (i: number, amount: number): GameEvent => ({
    eventId: `d${i}`,
    userId: 'u',
    ts: T0,
    gameServerId: 'gs',
    receivedAt: T0,
    type: 'trade',
    amount,
    currency: 'gold',
  });
  const alerts = [10, 10, 10, 89, 500].flatMap((amount, i) => {
    const o = engine.apply(store, ev(i, amount), 0);
    return o.kind === 'applied' ? (o.alerts ?? []).map((a) => a.alert) : [];
  });
  // 89 of 30 + 89 is 0.748 < 0.75; 500 of 119 + 500 is 0.81, over 50: one alert, baseline = recent volume
  assert.deepEqual(
    alerts.map((a) => [a.rule, a.amount, a.baseline, a.previousTrades]),
    [['drain', 500, 119, 4]],
  );
});
