// Group membership on the real broker, two processor processes: with static membership a
// restarted instance gets its own partitions back without a rebalance (the other instance never
// stops), and a zombie — an instance frozen (SIGSTOP) past its session timeout and then resumed —
// cannot commit what it applied while it was frozen (KIP-447: its offsets carry a generation the
// group no longer has), so no alert is written twice. The alerts are exactly the reference rule's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeAlert } from '@tradewatch/shared/alerts';
import type { GroupMembers } from '@tradewatch/shared/kafka-port';
import { referenceAlerts } from '../../../test/support/reference-rule.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import {
  FAST_PROCESSOR_GROUP,
  createTestTopology,
  deleteTestTopics,
  groupCaughtUp,
  produceEvents,
  readTopicSettled,
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
  for (const s of running)
    if (s.child.signalCode === null && s.child.exitCode === null) s.child.kill('SIGCONT');
  await Promise.all(running.map((s) => s.kill()));
  await deleteTestTopics(kafka, created);
});

const PARTITIONS = 6;

const setup = async (extra: Record<string, string> = {}) => {
  const pipeline = testPipeline('members');
  const env = { ...pipeline.env, ...FAST_PROCESSOR_GROUP, ...extra };
  const { events: eventsTopic } = pipeline.topics;
  created.push(...pipeline.allTopics);
  await createTestTopology(kafka, { events: eventsTopic }, { eventsPartitions: PARTITIONS });
  const start = (label: string, more: Record<string, string> = {}) => {
    const s = startProcessor({ ...env, ...more }, label, `members-${label}`);
    running.push(s);
    return s;
  };
  const group = () =>
    withAdmin(kafka, (admin) => admin.describeGroupMembers(pipeline.processorGroup, eventsTopic));
  const caughtUp = () => groupCaughtUp(kafka, pipeline.processorGroup, eventsTopic);
  return { env, start, group, caughtUp };
};

/** Partitions of each static member (by instance id), once the group is Stable with `n` members. */
const stableSplit = async (group: () => Promise<GroupMembers>, n: number) =>
  waitUntil(
    `the group to be Stable with ${n} members owning every partition`,
    async () => {
      const g = await group();
      const owned = g.members.flatMap((m) => m.partitions);
      if (g.state !== 'Stable' || g.members.length !== n || owned.length !== PARTITIONS) return undefined;
      return new Map(g.members.map((m) => [m.groupInstanceId, m.partitions.join(',')]));
    },
    60000,
    250,
  );

const exactAlerts = async (topic: string, expected: string[]) => {
  const got = (await readTopicSettled(kafka, topic, expected.length, 2000)).map(
    (m) => decodeAlert(m.value!).alertId,
  );
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got.sort(), expected);
};

const workload = (seed: number) => {
  const events = generateWorkload({
    users: 300,
    events: 36000,
    seed,
    takeoverRate: 0.04,
    duplicateRate: 0.02,
  });
  return {
    events,
    expected: referenceAlerts(events)
      .map((a) => a.alertId)
      .sort(),
  };
};

/** Lines of a service's log written after `from` characters that match `pattern`. */
const linesAfter = (s: RunningService, from: number, pattern: RegExp) =>
  s
    .log()
    .slice(from)
    .split('\n')
    .filter((l) => pattern.test(l));

test('a restarted static member gets its partitions back; the other instance never stops', async () => {
  const { env, start, group, caughtUp } = await setup();
  const { events, expected } = workload(31);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(0, 12000));
  const a = start('a');
  const b = start('b');
  const before = await stableSplit(group, 2);
  await waitUntil('both to process', caughtUp, 60000, 300);

  const bFrom = b.log().length;
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(12000, 18000));
  await a.kill(); // a crash; the supervisor starts it again at once, with the same instance id
  const a2 = start('a');
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(18000, 30000));
  await waitUntil(
    'the restarted a to restore its partitions',
    () => linesAfter(a2, 0, /"partition restored"/).length === PARTITIONS / 2,
    60000,
  );
  assert.deepEqual(await stableSplit(group, 2), before, 'each instance owns what it owned before');
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(30000));
  await waitUntil('the group to catch up', caughtUp, 120000, 300);
  assert.deepEqual(
    linesAfter(b, bFrom, /"partitions (assigned|revoked)"|"partition task closed"|"partition restored"/),
    [],
    'b was never rebalanced: no partition of it was revoked, assigned or restored',
  );
  await exactAlerts(env.ALERTS_TOPIC, expected);
  await Promise.all([a2.stop(), b.stop()]);
});

test('a zombie frozen past its session timeout cannot commit when it resumes; nothing twice', async () => {
  const { env, start, group, caughtUp } = await setup();
  const { events, expected } = workload(37);
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(0, 8000));
  // A long commit interval: when it is frozen, the zombie holds applied records it has not committed.
  const a = start('a', { PROCESSOR_COMMIT_INTERVAL_MS: '3000' });
  const b = start('b');
  await stableSplit(group, 2);
  await waitUntil('a to commit', caughtUp, 60000, 300);

  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(8000, 14000));
  await waitUntil('a to apply new records', () => /"partition restored"/.test(a.log()), 30000);
  await sleep(1500); // a applies the new records; its next commit is due 3 s after the first
  a.child.kill('SIGSTOP');
  const aFrom = a.log().length;
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(14000, 24000));
  // Past a's session timeout: b owns everything and processes what a had applied but not committed.
  await waitUntil(
    'b alone to own every partition',
    async () => {
      const g = await group();
      return g.state === 'Stable' && g.members.length === 1 && g.members[0]!.partitions.length === PARTITIONS;
    },
    60000,
    250,
  );
  await waitUntil('b to catch up alone', caughtUp, 60000, 300);
  a.child.kill('SIGCONT');
  await produceEvents(kafka, env.EVENTS_TOPIC, events.slice(24000));
  const refused = (l: string) =>
    (l.includes('"transaction failed: its tasks restore"') &&
      /UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION|FENCED_INSTANCE_ID/.test(l)) ||
    l.includes('"producer fenced');
  await waitUntil("the zombie's commit to be refused", () => linesAfter(a, aFrom, /./).some(refused), 60000);
  await stableSplit(group, 2);
  await waitUntil('the group to catch up', caughtUp, 120000, 300);
  await exactAlerts(env.ALERTS_TOPIC, expected);
  await Promise.all([a.stop(), b.stop()]);
});
