// The backtest against what the pipeline really archived: a processor and a sink run a workload
// while rule versions are written; `npm run backtest` of the active version over a window must
// reproduce the archived alerts of that window exactly, precision must follow the labels, a
// version written late must show up as differences between the archive and the history replayed
// by event time, and a bad rule file must be refused with every problem and no report.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GameEvent } from '@tradewatch/shared/events';
import { encodeRule, SEED_RULE, type RuleDefinition } from '@tradewatch/shared/rules';
import { referenceRuleAlerts } from './support/reference-rule.ts';
import { generateWorkload } from './support/workload.ts';
import {
  KEEP_TEST_DATA,
  clickhouse,
  clickhouseCommand,
  committedTotal,
  createTestTopology,
  deleteTestTopics,
  produce,
  produceEvents,
  ROOT,
  startProcessor,
  startService,
  testKafka,
  testPipeline,
  waitUntil,
  type RunningService,
} from './support/harness.ts';

const kafka = testKafka();
const pipeline = testPipeline('bt');
const { database } = pipeline;
const env = { ...pipeline.env, SINK_BATCH_MAX_WAIT_MS: '200' };
const running: RunningService[] = [];
after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  if (KEEP_TEST_DATA) return; // to look at topics and tables after a failure
  await deleteTestTopics(kafka, pipeline.allTopics);
  await clickhouseCommand(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
});

const backtest = (rule: unknown, from: number, to: number) => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-backtest-'));
  const file = join(dir, 'rule.json');
  writeFileSync(file, typeof rule === 'string' ? rule : JSON.stringify(rule));
  return spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/backtest.ts'), '--rule', file, '--from', String(from), '--to', String(to), '--json'],
    { cwd: ROOT, env: { ...process.env, CLICKHOUSE_DATABASE: database }, encoding: 'utf8', timeout: 120000 },
  );
};

test('a backtest of the active version reproduces the archived alerts of its window; a late version shows', async () => {
  await createTestTopology(
    kafka,
    {
      events: env.EVENTS_TOPIC,
      alerts: env.ALERTS_TOPIC,
      shadowAlerts: env.SHADOW_ALERTS_TOPIC,
      rules: env.RULES_TOPIC,
    },
    { eventsPartitions: 3 },
  );
  const events = generateWorkload({
    users: 250,
    events: 30000,
    seed: 41,
    takeoverRate: 0.05,
    duplicateRate: 0.02,
  });
  const tsAt = (i: number) => events[i]!.ts;
  const def = (v: Partial<RuleDefinition> & Pick<RuleDefinition, 'version'>): RuleDefinition =>
    ({ ...SEED_RULE, author: 'test', reason: 'test', createdAt: Date.now(), ...v }) as RuleDefinition;
  const v2 = def({
    version: 2,
    params: { minTrades: 4, amountFactor: 2, minAmount: 0, currencies: {} },
    effectiveFrom: tsAt(10000),
  });
  const writeRules = (versions: RuleDefinition[]) =>
    produce(
      kafka,
      env.RULES_TOPIC,
      versions.map((v) => ({ key: v.ruleId, value: encodeRule(v) })),
    );
  const publish = (evs: GameEvent[]) => produceEvents(kafka, env.EVENTS_TOPIC, evs);
  const processed = async (n: number) =>
    (await committedTotal(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC)) >= n;

  await writeRules([v2]); // on time: before any event it applies to
  running.push(startProcessor(env, 'p1', 'processor'), startService('sink', env));
  await publish(events.slice(0, 24000));
  await waitUntil('the processor to apply 24000 events', () => processed(24000), 120000, 300);
  // Late: in force from event 16000, which the processor has applied already.
  const v3 = def({
    version: 3,
    params: { minTrades: 4, amountFactor: 1.5, minAmount: 0, currencies: {} },
    effectiveFrom: tsAt(16000),
  });
  await writeRules([v3]);
  await waitUntil(
    'the processor to read version 3',
    () => running[0]!.log().includes('"version":3,"mode":"active"'),
    30000,
  );
  await publish(events.slice(24000));
  await waitUntil('the processor to apply everything', () => processed(events.length), 120000, 300);

  // What was archived is what the history gave, v3 from where it was read (not from its effectiveFrom).
  const onTime = referenceRuleAlerts(events, [SEED_RULE, v2]);
  const countIn = (from: number, to: number) =>
    clickhouse<{ n: string }>(
      `SELECT count() AS n FROM ${database}.alerts FINAL WHERE tradeTsMs >= ${from} AND tradeTsMs < ${to}`,
    ).then((r) => Number(r[0]!.n));
  const expectedV2Window = onTime.filter((a) => {
    const i = events.findIndex((e) => e.eventId === a.tradeEventId);
    return i >= 10000 && i < 16000;
  });
  assert.ok(expectedV2Window.length > 10, `the window should hold alerts (${expectedV2Window.length})`);
  await waitUntil(
    'the sink to archive the alerts and the rule versions',
    async () =>
      (await countIn(tsAt(10000), tsAt(16000))) === expectedV2Window.length &&
      Number(
        (await clickhouse<{ n: string }>(`SELECT count() AS n FROM ${database}.rule_versions FINAL`))[0]!.n,
      ) === 2,
    120000,
    500,
  );
  await waitUntil(
    'the sink to archive every event',
    async () =>
      Number(
        (await clickhouse<{ n: string }>(`SELECT uniqExact(eventId) AS n FROM ${database}.events`))[0]!.n,
      ) === new Set(events.map((e) => e.eventId)).size,
    120000,
    500,
  );

  // Labels on some alerts of the window: 3 confirmed, 1 false positive (the latest verdict wins).
  const ids = expectedV2Window.map((a) => a.alertId);
  const now = Date.now();
  const labels = [
    [ids[0], 'false_positive', now],
    [ids[0], 'confirmed_fraud', now + 1],
    [ids[1], 'confirmed_fraud', now],
    [ids[2], 'confirmed_fraud', now],
    [ids[3], 'false_positive', now],
    [ids[4], 'needs_review', now],
  ] as const;
  await clickhouseCommand(
    `INSERT INTO ${database}.alert_labels (alertId, label, note, author, labelledAtMs) VALUES ${labels
      .map(([a, l, t]) => `('${a}', '${l}', '', 'analyst', ${t})`)
      .join(', ')}`,
  );

  // The active version over its window: exactly the archive, and the same precision.
  const { version: _v, author: _a, createdAt: _c, ...candidate } = v2;
  const same = backtest(candidate, tsAt(10000), tsAt(16000));
  assert.equal(same.status, 0, same.stderr);
  const report = JSON.parse(same.stdout) as Record<string, unknown> & {
    candidate: { alerts: number };
    active: { alerts: number };
    onlyCandidate: number;
    onlyActive: number;
    precision: { candidate: number | null; active: number | null };
    replayedHistory: { notArchived: number; archivedNotReplayed: number; otherVersion: number };
    events: number;
  };
  assert.deepEqual(
    {
      candidate: report.candidate,
      active: report.active,
      onlyCandidate: report.onlyCandidate,
      onlyActive: report.onlyActive,
    },
    {
      candidate: { alerts: expectedV2Window.length },
      active: { alerts: expectedV2Window.length },
      onlyCandidate: 0,
      onlyActive: 0,
    },
  );
  assert.deepEqual(report.precision, { candidate: 0.75, active: 0.75 });
  assert.deepEqual(report.replayedHistory, {
    alerts: expectedV2Window.length,
    notArchived: 0,
    archivedNotReplayed: 0,
    otherVersion: 0,
  });
  assert.ok(report.events > 10000, 'the history before the window is replayed too');

  // Another candidate differs both ways from the archive: a lower factor, but a minimum amount.
  const amounts = expectedV2Window.map((a) => a.amount).sort((x, y) => x - y);
  const minAmount = amounts[Math.floor(amounts.length / 2)]!;
  const other = backtest(
    { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: { amountFactor: 1.5, minAmount } },
    tsAt(10000),
    tsAt(16000),
  );
  assert.equal(other.status, 0, other.stderr);
  const o = JSON.parse(other.stdout) as typeof report;
  assert.ok(o.onlyCandidate > 0 && o.onlyActive > 0, `differences both ways: ${other.stdout}`);
  assert.equal(
    o.candidate.alerts - o.onlyCandidate,
    o.active.alerts - o.onlyActive,
    'the common alerts agree',
  );

  // The late version: by event time it applies from event 16000, but the archive has v2's alerts up
  // to where it was read. The replayed history shows the difference; the archive is what it is.
  const late = backtest(
    { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: {} },
    tsAt(16000),
    tsAt(24000),
  );
  assert.equal(late.status, 0, late.stderr);
  const l = JSON.parse(late.stdout) as typeof report;
  const byEventTime = referenceRuleAlerts(events, [SEED_RULE, v2, v3]).filter((a) => {
    const i = events.findIndex((e) => e.eventId === a.tradeEventId);
    return i >= 16000 && i < 24000;
  });
  assert.ok(
    l.replayedHistory.notArchived + l.replayedHistory.otherVersion > 0,
    `the late version shows as a difference: ${late.stdout}`,
  );
  assert.equal(
    l.replayedHistory.notArchived + l.active.alerts - l.replayedHistory.archivedNotReplayed,
    byEventTime.length,
  );

  // A bad rule file: every problem, exit 2, no report.
  const bad = backtest(
    { ruleId: 'Bad Id', type: 'large-trade-new-ip', params: { minTrades: 0, colour: 1 } },
    tsAt(0),
    tsAt(100),
  );
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /\/ruleId: expected a rule id/);
  assert.match(bad.stderr, /\/params\/colour: unknown field/);
  assert.match(bad.stderr, /\/params\/minTrades: expected an integer 1-20/);
  const notJson = backtest('{', tsAt(0), tsAt(100));
  assert.equal(notJson.status, 2);
  assert.match(notJson.stderr, /--rule .*rule\.json: /);
  const backwards = backtest(candidate, tsAt(100), tsAt(0));
  assert.equal(backwards.status, 2);
  assert.match(backwards.stderr, /must be before/);
});
