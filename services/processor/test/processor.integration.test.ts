// The processor against the real broker: its alerts (read_committed) must be exactly those of the
// reference rule applied to the topic in order, whatever crashes and rebalances happen.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '@tradewatch/shared/events';
import { decodeAlert, RULE_ID, RULE_VERSION } from '@tradewatch/shared/alerts';
import { headerText } from '@tradewatch/shared/kafka-port';
import { referenceAlerts } from '../../../test/support/reference-rule.ts';
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
  readTopicUntil,
  startProcessor,
  testKafka,
  testPipeline,
  waitUntil,
  withAdmin,
  type RunningService,
} from '../../../test/support/harness.ts';

const kafka = testKafka();
const created: string[] = [];
const running: RunningService[] = [];
after(async () => {
  await Promise.all(running.map((s) => s.kill()));
  await deleteTestTopics(kafka, created);
});

const setup = async (partitions: number) => {
  const pipeline = testPipeline('proc');
  const env = { ...pipeline.env, ...FAST_PROCESSOR_GROUP };
  created.push(...pipeline.allTopics);
  await createTestTopology(kafka, { events: env.EVENTS_TOPIC }, { eventsPartitions: partitions });
  const start = (label: string) => {
    const s = startProcessor(env, label);
    running.push(s);
    return s;
  };
  return { env, start, topics: pipeline.topics };
};

const anyProgress = async (groupId: string, topic: string) =>
  (await committedTotal(kafka, groupId, topic)) > 0;

const byAlertId = (a: { alertId: string }, b: { alertId: string }) => a.alertId.localeCompare(b.alertId);

/** A generated workload and the alerts the reference rule raises on it, every field, by alertId. */
const workloadWithExpected = (opts: Parameters<typeof generateWorkload>[0]) => {
  const events = generateWorkload(opts);
  const byEventId = new Map(events.map((e) => [e.eventId, e]));
  const expected = referenceAlerts(events)
    .map((a) => ({
      ...a,
      rule: RULE_ID,
      ruleVersion: RULE_VERSION,
      tradeTs: byEventId.get(a.tradeEventId)!.ts,
      factor: a.amount / a.baseline,
      gameServerId: byEventId.get(a.tradeEventId)!.gameServerId,
    }))
    .sort(byAlertId);
  return { events, expected };
};

/** The alerts on the topic (read_committed), every field but the processor's clock, by alertId. */
const alertsOf = async (topic: string, expected: number) => {
  const messages = await readTopicSettled(kafka, topic, expected, 2000);
  return messages
    .map((m) => {
      const { detectedAt: _, ...alert } = decodeAlert(m.value!);
      return alert;
    })
    .sort(byAlertId);
};

test('exactly the reference alerts across SIGKILL, restore from the changelog, and scaling 1 → 2', async () => {
  const { env, start, topics } = await setup(4);
  const { events, expected } = workloadWithExpected({
    users: 300,
    events: 40000,
    seed: 11,
    takeoverRate: 0.04,
    duplicateRate: 0.03,
  });
  assert.ok(expected.length > 50, `workload should raise alerts (got ${expected.length})`);

  // SIGKILL inside an open transaction, and the test proves it did: after the kill, records of
  // the instance's transaction sit on the changelog past the last stable offset (nothing can
  // decide that transaction but the coordinator's timeout or a new producer of the id). The
  // first 25,000 events are published in small steps meanwhile, so that records are flowing;
  // a kill that fell between two transactions is tried again with a new incarnation.
  const changelog = topics.changelog;
  const openTransaction = () =>
    withAdmin(kafka, async (admin) => {
      const [stable, ends] = await Promise.all([admin.watermarks(changelog), admin.logEnds(changelog)]);
      return stable.some((w) => (ends.get(w.partition) ?? 0) > w.high);
    });
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(0, 2000));
  let published = 2000;
  let killedInside = 0;
  for (let attempt = 1; attempt <= 5 && killedInside === 0; attempt++) {
    const a = start('a');
    await waitUntil(
      'progress committed by a',
      () => anyProgress(env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
      60000,
      20,
    );
    await waitUntil(
      'a transaction of a in flight while records flow',
      async () => {
        if (published < 25000) {
          await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(published, published + 500));
          published += 500;
        }
        return openTransaction();
      },
      60000,
      1,
    );
    await a.kill();
    if (await openTransaction()) killedInside = attempt;
  }
  assert.ok(killedInside > 0, 'a SIGKILL landed inside an open transaction');
  if (published < 25000) await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(published, 25000));

  const b = start('b');
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(25000));
  await waitUntil(
    'b to restore a partition',
    () => /"partition restored"/.test(b.log()) && /"users":[1-9]/.test(b.log()),
    60000,
  );
  const c = start('c'); // 1 → 2 instances: a rebalance while b is processing
  // The group must really have grown to two before the rest is processed: on a loaded machine c
  // can take longer to join than b takes to finish alone.
  await waitUntil('c to be assigned partitions', () => /"partitions assigned"/.test(c.log()), 60000);
  await waitUntil(
    'the group to catch up',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    120000,
    500,
  );

  const got = await alertsOf(env.ALERTS_TOPIC, expected.length);
  assert.equal(new Set(got.map((a) => a.alertId)).size, got.length, 'no alert twice');
  assert.deepEqual(got, expected);
  assert.match(c.log(), /"partitions assigned"/);
  await Promise.all([b.stop(), c.stop()]);
});

test('exactly the reference alerts while scaling 1 → 3 → 1 with graceful stops mid-stream', async () => {
  const { env, start } = await setup(6);
  const { events, expected } = workloadWithExpected({
    users: 400,
    events: 60000,
    seed: 23,
    takeoverRate: 0.04,
    duplicateRate: 0.02,
  });
  const chunks = [0, 10000, 25000, 40000, 60000];
  const assignedSome = (s: RunningService) => () => /"partitions":\[\d/.test(s.log());

  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(chunks[0], chunks[1]));
  const a = start('a');
  await waitUntil('a to commit', () => anyProgress(env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC), 60000, 50);
  const b = start('b');
  const c = start('c'); // 1 → 3
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(chunks[1], chunks[2]));
  await waitUntil('b to own partitions', assignedSome(b), 60000);
  await waitUntil('c to own partitions', assignedSome(c), 60000);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(chunks[2], chunks[3]));
  await Promise.all([b.stop(), c.stop()]); // 3 → 1, SIGTERM while records are still arriving
  assert.equal(await b.exited, 0);
  assert.equal(await c.exited, 0);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(chunks[3], chunks[4]));
  await waitUntil(
    'a to catch up alone',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    120000,
    500,
  );

  const got = await alertsOf(env.ALERTS_TOPIC, expected.length);
  assert.equal(new Set(got.map((a) => a.alertId)).size, got.length, 'no alert twice');
  assert.deepEqual(got, expected);
  await a.stop();
});

test('duplicates change nothing; poison records go to dead letters with the reason, processing goes on', async () => {
  const { env, start } = await setup(2);
  const { events, expected } = workloadWithExpected({
    users: 50,
    events: 3000,
    seed: 5,
    takeoverRate: 0.05,
    duplicateRate: 0.1,
  });
  const poison = [
    { key: 'u-x', value: 'not json {' },
    {
      key: 'u-y',
      value: JSON.stringify({
        eventId: 'p1',
        type: 'refund',
        userId: 'u-y',
        ts: Date.now(),
        gameServerId: 'g',
        receivedAt: Date.now(),
      }),
    },
    {
      key: 'u-z',
      value: JSON.stringify({
        eventId: 'p2',
        type: 'trade',
        userId: 'u-z',
        ts: Date.now(),
        amount: -5,
        currency: 'gold',
        gameServerId: 'g',
        receivedAt: Date.now(),
      }),
    },
    { key: 'someone-else', value: encodeEvent(events[0]!) },
  ];
  await produce(kafka, env.EVENTS_TOPIC, [
    ...events.slice(0, 1500).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
    ...poison,
    ...events.slice(1500).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
  ]);
  const p = start('a');
  await waitUntil(
    'the group to catch up',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    60000,
    300,
  );
  assert.deepEqual(await alertsOf(env.ALERTS_TOPIC, expected.length), expected);

  const dead = await readTopicUntil(kafka, env.DEAD_LETTER_TOPIC, (m) => m.length >= poison.length);
  assert.equal(dead.length, poison.length);
  assert.deepEqual(dead.map((m) => headerText(m, 'tw-reason')).sort(), [
    'invalid_event',
    'invalid_event',
    'key_mismatch',
    'not_json',
  ]);
  assert.ok(dead.every((m) => /\/\d+\/\d+$/.test(headerText(m, 'tw-source') ?? '')));
  await p.stop();
});
