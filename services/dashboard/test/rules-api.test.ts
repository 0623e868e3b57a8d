// Rule management on the desk's API, on in-memory ports: who may do what, a new version from a
// definition or from another version with another mode, every problem of an invalid one with
// nothing written, active vs shadow on the same trades, and backtests with their progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BacktestReport } from '@tradewatch/shared/backtest';
import { SEED_RULE, type RuleDefinition } from '@tradewatch/shared/rules';
import type { BacktestJob, RuleView } from '../src/api-types.ts';
import { BEARER, NOW, buildTestDesk, fakeBacktestRunner, makeAlert } from './support/desk-ports.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };
const admin = { ...BEARER.admin, ...JSON_HEADERS };
const draft = {
  type: 'large-trade-new-ip',
  mode: 'active',
  params: { minTrades: 6, amountFactor: 4, currencies: { gems: { minAmount: 100 } } },
  reason: 'fewer false positives on small trades',
};

test('rules are for admins: 401 without credentials, 403 for viewers and analysts', async () => {
  const { app, rules } = await buildTestDesk();
  const calls: [string, string, object?][] = [
    ['GET', '/api/rules'],
    ['PUT', '/api/rules/large-trade-new-ip', draft],
    ['POST', '/api/rules/large-trade-new-ip/disable', { reason: 'x' }],
    ['GET', '/api/rules/large-trade-new-ip/comparison'],
    ['POST', '/api/backtests', { rule: draft, from: 0, to: 1 }],
    ['GET', '/api/backtests'],
  ];
  for (const [method, url, payload] of calls) {
    const none = await app.inject({ method: method as 'GET', url, ...(payload ? { payload } : {}) });
    assert.equal(none.statusCode, 401, `${method} ${url}`);
    for (const who of [BEARER.viewer, BEARER.analyst]) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: { ...who, ...JSON_HEADERS },
        ...(payload ? { payload } : {}),
      });
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.equal(res.json<{ error: string }>().error, 'forbidden');
    }
  }
  assert.deepEqual(rules.written, []);
});

test('PUT makes the next version with the author and time; GET lists every version, what is in force and its alerts', async () => {
  const { app, rules, archive } = await buildTestDesk();
  const first = await app.inject({
    method: 'PUT',
    url: '/api/rules/large-trade-new-ip',
    headers: admin,
    payload: draft,
  });
  assert.equal(first.statusCode, 201, first.body);
  const v2 = first.json<RuleDefinition>();
  assert.deepEqual(v2, {
    ruleId: 'large-trade-new-ip',
    version: 2,
    type: 'large-trade-new-ip',
    mode: 'active',
    params: { minTrades: 6, amountFactor: 4, minAmount: 0, currencies: { gems: { minAmount: 100 } } },
    effectiveFrom: NOW,
    author: 'adam',
    reason: draft.reason,
    createdAt: NOW,
  });
  const shadow = await app.inject({
    method: 'PUT',
    url: '/api/rules/large-trade-new-ip',
    headers: admin,
    payload: { ...draft, mode: 'shadow', params: { amountFactor: 2.5 }, effectiveFrom: NOW - 1 },
  });
  assert.equal(shadow.json<RuleDefinition>().version, 3);
  const drain = await app.inject({
    method: 'PUT',
    url: '/api/rules/drain',
    headers: admin,
    payload: { type: 'drain-recent-volume', mode: 'active', params: {}, reason: 'second rule' },
  });
  assert.equal(drain.json<RuleDefinition>().version, 1);
  assert.deepEqual(
    rules.written.map((d) => `${d.ruleId}@${d.version}`),
    ['large-trade-new-ip@2', 'large-trade-new-ip@3', 'drain@1'],
  );

  archive.rows.push({ alert: makeAlert(1, { ruleVersion: 2 }), partition: 0, offset: 0 });
  archive.rows.push({ alert: makeAlert(2, { ruleVersion: 1 }), partition: 0, offset: 1 });
  archive.shadowRows.push(makeAlert(1, { ruleVersion: 3 }), makeAlert(3, { ruleVersion: 3 }));
  const list = await app.inject({ url: '/api/rules', headers: BEARER.admin });
  assert.equal(list.statusCode, 200);
  const views = list.json<{ rules: RuleView[] }>().rules;
  assert.deepEqual(
    views.map((r) => [r.ruleId, r.version, r.versions.map((v) => v.version), r.inForce]),
    [
      ['drain', 1, [1], { active: 1, shadow: null }],
      ['large-trade-new-ip', 3, [3, 2, 1], { active: 2, shadow: 3 }],
    ],
  );
  assert.deepEqual(
    views[1]!.alerts.sort((a, b) => a.version - b.version),
    [
      { version: 1, alerts: 1, shadowAlerts: 0 },
      { version: 2, alerts: 1, shadowAlerts: 0 },
      { version: 3, alerts: 0, shadowAlerts: 2 },
    ],
  );

  // The same trades as the active and the shadow version saw them.
  const cmp = await app.inject({
    url: '/api/rules/large-trade-new-ip/comparison?limit=10',
    headers: BEARER.admin,
  });
  assert.deepEqual(
    cmp
      .json<{ trades: { tradeEventId: string; activeVersions: number[]; shadowVersions: number[] }[] }>()
      .trades.map((t) => [t.tradeEventId, t.activeVersions, t.shadowVersions]),
    [
      ['trade-3', [], [3]],
      ['trade-2', [1], []],
      ['trade-1', [2], [3]],
    ],
  );
});

test('an invalid definition is refused with every problem, and nothing is written', async () => {
  const { app, rules } = await buildTestDesk();
  const refuse = async (url: string, payload: unknown, pattern: RegExp, status = 400) => {
    const res = await app.inject({ method: 'PUT', url, headers: admin, payload: payload as object });
    assert.equal(res.statusCode, status, res.body);
    const body = res.json<{ error: string; message: string }>();
    assert.match(body.message, pattern);
    return body;
  };
  const many = await refuse(
    '/api/rules/large-trade-new-ip',
    { type: 'large-trade-new-ip', mode: 'on', params: { minTrades: 0, factor: 3 }, version: 7 },
    /\/version: is set by the desk.*\/params\/factor: unknown field.*\/params\/minTrades: expected an integer 1-20.*\/mode: expected one of active, shadow, disabled.*\/reason: expected/,
  );
  assert.equal(many.error, 'invalid_rule');
  await refuse(
    '/api/rules/large-trade-new-ip',
    { ...draft, type: 'drain-recent-volume' },
    /a new type needs a new rule id/,
  );
  await refuse('/api/rules/Not%20An%20Id', draft, /a rule id is 1-64/);
  await refuse('/api/rules/large-trade-new-ip', [1, 2], /\/: expected an object/);
  await refuse(
    '/api/rules/large-trade-new-ip',
    { ...draft, effectiveFrom: -1 },
    /\/effectiveFrom: expected an integer/,
  );
  const notJson = await app.inject({
    method: 'PUT',
    url: '/api/rules/large-trade-new-ip',
    headers: admin,
    payload: '{"type":',
  });
  assert.equal(notJson.statusCode, 400);
  assert.deepEqual(rules.written, []);
  const list = await app.inject({ url: '/api/rules', headers: BEARER.admin });
  assert.deepEqual(
    list.json<{ rules: RuleView[] }>().rules.map((r) => r.versions.length),
    [1],
    'only the seed',
  );
});

test('activate, shadow and disable make a new version from an existing one', async () => {
  const { app, rules } = await buildTestDesk();
  await app.inject({
    method: 'PUT',
    url: '/api/rules/large-trade-new-ip',
    headers: admin,
    payload: { ...draft, mode: 'shadow' },
  });
  const post = (action: string, payload: unknown, rule = 'large-trade-new-ip') =>
    app.inject({
      method: 'POST',
      url: `/api/rules/${rule}/${action}`,
      headers: admin,
      payload: payload as object,
    });
  const activated = await post('activate', {
    version: 2,
    reason: 'the shadow looked right',
    effectiveFrom: NOW + 5000,
  });
  assert.equal(activated.statusCode, 201, activated.body);
  const v3 = activated.json<RuleDefinition>();
  assert.deepEqual(
    [v3.version, v3.mode, v3.effectiveFrom, v3.params],
    [3, 'active', NOW + 5000, rules.written[0]!.params],
  );
  const disabled = await post('disable', { reason: 'incident' });
  assert.deepEqual([disabled.statusCode, disabled.json<RuleDefinition>().mode], [201, 'disabled']);
  assert.equal(disabled.json<RuleDefinition>().version, 4);
  const shadowed = await post('shadow', { version: 1, reason: 'the seed beside' });
  const v5 = shadowed.json<RuleDefinition>();
  assert.deepEqual(
    [v5.version, v5.mode, v5.params],
    [5, 'shadow', SEED_RULE.params],
    'the seed’s parameters',
  );

  const before = rules.written.length;
  assert.equal((await post('explode', { reason: 'x' })).statusCode, 404);
  assert.equal((await post('activate', { reason: 'x' }, 'no-such-rule')).statusCode, 404);
  assert.equal((await post('activate', { version: 99, reason: 'x' })).statusCode, 404);
  const noReason = await post('activate', { version: 2 });
  assert.equal(noReason.statusCode, 400);
  assert.match(noReason.json<{ message: string }>().message, /\/reason: expected/);
  const extra = await post('activate', { reason: 'x', colour: 'red', version: 'two' });
  assert.equal(extra.statusCode, 400);
  assert.match(
    extra.json<{ message: string }>().message,
    /\/colour: unknown field; \/version: expected a version number/,
  );
  assert.equal(rules.written.length, before, 'nothing written');
});

test('a backtest runs after its request is checked, with progress, and its report is kept', async () => {
  const report = (rule: unknown): BacktestReport => ({
    rule: (rule as { ruleId: string }).ruleId,
    candidateVersion: 2,
    window: { from: 1, to: 2 },
    events: 2,
    windowTrades: 1,
    candidate: { alerts: 1 },
    active: { alerts: 0 },
    onlyCandidate: 1,
    onlyActive: 0,
    precision: { candidate: null, active: null },
    replayedHistory: { alerts: 0, notArchived: 0, archivedNotReplayed: 0, otherVersion: 0 },
    samples: { onlyCandidate: ['a'], onlyActive: [], lateDifferences: [] },
  });
  const { app, backtests } = await buildTestDesk({ backtest: fakeBacktestRunner(report) });
  const post = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/backtests', headers: admin, payload: payload as object });
  const bad = await post({ rule: { ruleId: 'large-trade-new-ip', type: 'x' }, from: 5, to: 1, extra: 1 });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json<{ message: string }>().message, /\/extra: unknown field/);
  const badWindow = await post({
    rule: { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip' },
    from: 5,
    to: 1,
  });
  assert.match(badWindow.json<{ message: string }>().message, /\/to: must be after from/);
  const badRule = await post({ rule: { ruleId: 'large-trade-new-ip', type: 'x' }, from: 1, to: 5 });
  assert.equal(badRule.statusCode, 400);
  assert.match(badRule.json<{ message: string }>().message, /\/type: expected one of/);
  assert.deepEqual(backtests.list(), [], 'nothing started');

  const started = await post({
    rule: { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: {} },
    from: 1,
    to: 5,
  });
  assert.equal(started.statusCode, 202);
  const job = started.json<BacktestJob>();
  assert.ok(['queued', 'running'].includes(job.status));
  await backtests.idle();
  const done = await app.inject({ url: `/api/backtests/${job.id}`, headers: BEARER.admin });
  const body = done.json<BacktestJob>();
  assert.equal(body.status, 'done');
  assert.deepEqual(body.progress, { events: 2, total: 2 });
  assert.equal(body.result?.onlyCandidate, 1);
  assert.equal((await app.inject({ url: '/api/backtests/nope', headers: BEARER.admin })).statusCode, 404);
  assert.equal(
    (await app.inject({ url: '/api/backtests', headers: BEARER.admin })).json<{ backtests: unknown[] }>()
      .backtests.length,
    1,
  );
});
