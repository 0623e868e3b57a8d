// Rules as data against the real broker: versions written to the rules topic while the processor
// runs take effect by event time (docs/rules.md) across a SIGKILL and a rebalance, alerts carry
// the version that raised them, and shadow versions write to the shadow topic only. The alerts of
// both topics must be exactly those of the reference applying the same rule history.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { encodeRule, SEED_RULE, type RuleDefinition } from '@tradewatch/shared/rules';
import { referenceRuleAlerts } from '../../../test/support/reference-rule.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import {
  FAST_PROCESSOR_GROUP,
  committedTotal,
  createTestTopology,
  deleteTestTopics,
  groupCaughtUp,
  produce,
  produceEvents,
  readTopicSettled,
  startProcessor,
  testKafka,
  testPipeline,
  waitUntil,
  type RunningService,
} from '../../../test/support/harness.ts';

const kafka = testKafka();
const created: string[] = [];
const running: RunningService[] = [];
after(async () => {
  await Promise.all(running.map((s) => s.kill()));
  await deleteTestTopics(kafka, created);
});

/** Waits until every instance logged reading each of `versions` from the rules topic. */
const readBy = (instances: RunningService[], versions: RuleDefinition[]) =>
  waitUntil(
    `${instances.map((s) => s.name).join(', ')} to read ${versions.map((v) => `${v.ruleId}@${v.version}`).join(', ')}`,
    () =>
      instances.every((s) => {
        const log = s.log();
        return versions.every((v) =>
          log.includes(`"ruleId":"${v.ruleId}","version":${v.version},"mode":"${v.mode}"`),
        );
      }),
    60000,
  );

test('rule versions written mid-stream apply by event time across a SIGKILL and a rebalance; shadow alerts stay off alerts', async () => {
  const pipeline = testPipeline('rules');
  const env = { ...pipeline.env, ...FAST_PROCESSOR_GROUP };
  created.push(...pipeline.allTopics);
  await createTestTopology(
    kafka,
    { events: env.EVENTS_TOPIC, rules: env.RULES_TOPIC },
    { eventsPartitions: 4 },
  );
  const start = (label: string) => {
    const s = startProcessor(env, label);
    running.push(s);
    return s;
  };

  const events = generateWorkload({
    users: 300,
    events: 36000,
    seed: 31,
    takeoverRate: 0.05,
    duplicateRate: 0.03,
  });
  const tsAt = (i: number) => events[i]!.ts;
  const def = (v: Partial<RuleDefinition> & Pick<RuleDefinition, 'ruleId' | 'version'>): RuleDefinition =>
    ({ ...SEED_RULE, author: 'test', reason: 'test', createdAt: Date.now(), ...v }) as RuleDefinition;
  // Written while the first 10000 events are processed, in force from event 14000 on.
  const first: RuleDefinition[] = [
    def({
      ruleId: 'large-trade-new-ip',
      version: 2,
      params: { minTrades: 3, amountFactor: 2, minAmount: 0, currencies: { gems: { amountFactor: 2.5 } } },
      effectiveFrom: tsAt(14000),
    }),
    def({
      ruleId: 'drain',
      version: 1,
      type: 'drain-recent-volume',
      params: { minTrades: 5, minShare: 0.5, minAmount: 0, requireNewIp: false },
      effectiveFrom: tsAt(12000),
    }),
    def({
      ruleId: 'drain',
      version: 2,
      mode: 'shadow',
      type: 'drain-recent-volume',
      params: { minTrades: 3, minShare: 0.4, minAmount: 0, requireNewIp: false },
      effectiveFrom: tsAt(16000),
    }),
  ];
  // Written after the rebalance, in force from event 28000 on: a shadow beside v2, and drain off.
  const second: RuleDefinition[] = [
    def({
      ruleId: 'large-trade-new-ip',
      version: 3,
      mode: 'shadow',
      params: { minTrades: 5, amountFactor: 1.5, minAmount: 0, currencies: {} },
      effectiveFrom: tsAt(28000),
    }),
    def({
      ruleId: 'drain',
      version: 3,
      mode: 'disabled',
      type: 'drain-recent-volume',
      params: { minTrades: 3, minShare: 0.4, minAmount: 0, requireNewIp: false },
      effectiveFrom: tsAt(30000),
    }),
  ];
  const writeRules = (versions: RuleDefinition[]) =>
    produce(
      kafka,
      env.RULES_TOPIC,
      versions.map((v) => ({ key: v.ruleId, value: encodeRule(v) })),
    );

  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(0, 10000));
  const a = start('a');
  await writeRules(first);
  await readBy([a], first);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(10000, 22000));
  await waitUntil(
    'a to commit past the first change',
    async () => (await committedTotal(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC)) > 15000,
    60000,
    20,
  );
  await a.kill(); // mid-stream, most likely mid-transaction

  const b = start('b');
  await waitUntil('b to restore', () => /"partition restored"/.test(b.log()), 60000);
  const c = start('c'); // a rebalance while b is processing
  await waitUntil('c to be assigned partitions', () => /"partitions":\[\d/.test(c.log()), 60000);
  await writeRules(second);
  await readBy([b, c], [...first, ...second]);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(22000));
  await waitUntil(
    'the group to catch up',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    120000,
    500,
  );

  const history = [SEED_RULE, ...first, ...second];
  const expected = referenceRuleAlerts(events, history);
  const key = (a: { alertId: string; rule: string; ruleVersion: number }) =>
    `${a.rule}@${a.ruleVersion}:${a.alertId}`;
  const expectedActive = expected
    .filter((e) => !e.shadow)
    .map(key)
    .sort();
  const expectedShadow = expected
    .filter((e) => e.shadow)
    .map(key)
    .sort();
  // The history must exercise every part: each version raises something.
  for (const v of history.filter((h) => h.mode !== 'disabled')) {
    assert.ok(
      expected.some((e) => e.rule === v.ruleId && e.ruleVersion === v.version),
      `${v.ruleId}@${v.version} should raise alerts on this workload`,
    );
  }

  const active = (await readTopicSettled(kafka, env.ALERTS_TOPIC, expectedActive.length, 2000)).map((m) =>
    key(decodeAlert(m.value!)),
  );
  const shadow = (await readTopicSettled(kafka, env.SHADOW_ALERTS_TOPIC, expectedShadow.length, 2000)).map(
    (m) => key(decodeAlert(m.value!)),
  );
  const shadowVersions = new Set(
    history.filter((h) => h.mode === 'shadow').map((h) => `${h.ruleId}@${h.version}:`),
  );
  assert.deepEqual(
    active.filter((k) => [...shadowVersions].some((s) => k.startsWith(s))),
    [],
    'no shadow alert on the alerts topic',
  );
  assert.equal(new Set(active).size, active.length, 'no alert twice');
  assert.equal(new Set(shadow).size, shadow.length, 'no shadow alert twice');
  assert.deepEqual(active.sort(), expectedActive);
  assert.deepEqual(shadow.sort(), expectedShadow);
  await Promise.all([b.stop(), c.stop()]);
});
