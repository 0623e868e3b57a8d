// The backtest's pure parts: the archive's TabSeparated lines back into the events the processor
// applied, the candidate read from a rule file, and the report's comparisons and precision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId } from '../src/alerts.ts';
import { Backtest, candidateFrom, ruleHistory } from '../src/backtest.ts';
import { parseEventLine } from '../src/backtest-archive.ts';
import type { GameEvent } from '../src/events.ts';
import { RuleInvalidError, SEED_RULE } from '../src/rules.ts';

test('archive lines become the events the processor applied, escapes and money exact', () => {
  assert.deepEqual(parseEventLine('e1\tlogin\tu\\\\1\\tx\t1700000000000\t10.0.0.1\t0\t\tgs\\n1'), {
    eventId: 'e1',
    type: 'login',
    userId: 'u\\1\tx',
    ts: 1700000000000,
    ip: '10.0.0.1',
    gameServerId: 'gs\n1',
    receivedAt: 0,
  });
  const t = parseEventLine('e2\ttrade\tu\t1700000000001\t\t100000\tgems\tgs');
  assert.deepEqual(t, {
    eventId: 'e2',
    type: 'trade',
    userId: 'u',
    ts: 1700000000001,
    amount: 0.1,
    currency: 'gems',
    gameServerId: 'gs',
    receivedAt: 0,
  });
  assert.throws(() => parseEventLine('e3\ttrade\tu'), /expected 8 tab-separated fields/);
  assert.throws(() => parseEventLine('a\tb\tc\td\te\tf\tg\th\ti'), /expected 8/);
});

test('a rule file is a definition or a draft; problems are listed; the next version is numbered', () => {
  const history = ruleHistory('large-trade-new-ip', []);
  assert.deepEqual(history, [SEED_RULE]);
  const c = candidateFrom(
    { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: { amountFactor: 4 } },
    history,
  );
  assert.equal(c.version, 2);
  assert.equal(c.mode, 'active');
  assert.throws(
    () => candidateFrom({ ruleId: 'x', type: 'nope', params: { amountFactor: 4 } }, history),
    (e: RuleInvalidError) =>
      e.problems.includes('/type: expected one of large-trade-new-ip, drain-recent-volume'),
  );
  assert.throws(() => candidateFrom(null, history), RuleInvalidError);
  assert.throws(() => new Backtest(c, history, { from: 10, to: 10 }), /must be before/);
});

test('the report compares both ways, counts precision on verdicts only, and shows late versions', () => {
  const T = 1_800_000_000_000;
  const ev = (i: number, type: 'login' | 'trade', x: string | number): GameEvent =>
    type === 'login'
      ? { eventId: `e${i}`, type, userId: 'u', ts: T + i, ip: String(x), gameServerId: 'g', receivedAt: 0 }
      : {
          eventId: `e${i}`,
          type,
          userId: 'u',
          ts: T + i,
          amount: Number(x),
          currency: 'gold',
          gameServerId: 'g',
          receivedAt: 0,
        };
  // Five trades of 10 from a first IP, then a new IP and trades of 25, 35 and 45.
  const events = [
    ev(0, 'login', '1.1.1.1'),
    ...[1, 2, 3, 4, 5].map((i) => ev(i, 'trade', 10)),
    ev(6, 'login', '9.9.9.9'),
    ev(7, 'trade', 25),
    ev(8, 'trade', 35),
    ev(9, 'trade', 45),
  ];
  const history = ruleHistory('large-trade-new-ip', []);
  const candidate = candidateFrom(
    { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: { amountFactor: 2 } },
    history,
  );
  const b = new Backtest(candidate, history, { from: T + 7, to: T + 100 });
  b.apply(events);
  const id = (i: number) => deriveAlertId('large-trade-new-ip', `e${i}`);
  // Factor 2 flags 25, 35 and 45: the median of the previous trades stays 10.
  const archived = [
    { alertId: id(8), ruleVersion: 1, tradeEventId: 'e8' },
    { alertId: id(9), ruleVersion: 1, tradeEventId: 'e9' },
    { alertId: 'not-replayed', ruleVersion: 1, tradeEventId: 'e99' },
  ];
  const r = b.report(
    archived,
    new Map([
      [id(7), 'false_positive'],
      [id(8), 'confirmed_fraud'],
      ['not-replayed', 'false_positive'],
    ]),
  );
  assert.equal(r.events, 10);
  assert.equal(r.windowTrades, 3);
  assert.deepEqual(r.candidate, { alerts: 3 });
  assert.deepEqual(r.active, { alerts: 3 });
  assert.equal(r.onlyCandidate, 1);
  assert.equal(r.onlyActive, 1);
  assert.deepEqual(r.samples.onlyCandidate, [id(7)]);
  assert.deepEqual(r.precision, { candidate: 0.5, active: 0.5 });
  // The seed replayed: 35 (3.5 × 10) and 45 (4.5 × 10) are over 3 × the median; 25 is not.
  assert.deepEqual(r.replayedHistory, { alerts: 2, notArchived: 0, archivedNotReplayed: 1, otherVersion: 0 });
});
