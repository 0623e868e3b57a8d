// The interactive query of a user's state against the real broker: processors run as child
// processes, the consumer group says (describeGroupMembers) which instance owns a user's partition
// and where it answers, and every answer is checked against the reference state of the records of
// that partition up to the offset the answer says it reflects — including while a second instance
// joins and partitions move under a stream of events.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import type { GroupMembers, KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { ReferenceStates, referenceState } from '../../../test/support/reference-rule.ts';
import { StreamingWorkload } from '../../../test/support/streaming-workload.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import {
  FAST_PROCESSOR_GROUP,
  createTestTopology,
  deleteTestTopics,
  groupCaughtUp,
  produceEvents,
  readTopicUntil,
  startProcessor,
  testKafka,
  testPipeline,
  uniqueName,
  waitUntil,
  type RunningService,
} from '../../../test/support/harness.ts';

const HISTORY = 20;
const kafka = testKafka();
const admin: KafkaAdmin = kafka.admin();
const created: string[] = [];
const running: RunningService[] = [];
after(async () => {
  await Promise.all(running.map((s) => s.kill()));
  await deleteTestTopics(kafka, created);
  await admin.close();
});

const setup = async (partitions: number, settings: Record<string, string> = {}) => {
  const pipeline = testPipeline('state');
  const env = { ...pipeline.env, ...FAST_PROCESSOR_GROUP, PROCESSOR_METRICS_PORT: '0', ...settings };
  created.push(...pipeline.allTopics);
  await createTestTopology(kafka, { events: env.EVENTS_TOPIC }, { eventsPartitions: partitions });
  const start = (label: string) => {
    const s = startProcessor(env, label);
    running.push(s);
    return s;
  };
  const group = () => admin.describeGroupMembers(env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC);
  return { env, start, group };
};

/** The URL the instance advertises, from its start-up log line. */
const advertisedUrl = (s: RunningService): string | undefined => {
  for (const line of s.log().split('\n')) {
    if (!line.includes('"metrics listening"')) continue;
    return (JSON.parse(line) as { advertised?: string }).advertised;
  }
  return undefined;
};

interface StateBody {
  userId: string;
  partition: number;
  instance: string;
  status: string;
  error?: string;
  appliedOffset?: number | null;
  state?: ReturnType<ReferenceStates['stateOf']>;
}

interface Answer {
  instance: string;
  userId: string;
  status: number;
  retryAfter: string | null;
  body: StateBody;
}

const askState = async (instance: string, endpoint: string, userId: string): Promise<Answer> => {
  const res = await fetch(`${endpoint}/v1/users/${encodeURIComponent(userId)}/state`, {
    signal: AbortSignal.timeout(5000),
  });
  return {
    instance,
    userId,
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as StateBody,
  };
};

/** The group, once Stable with `n` advertising members that together own every partition. */
const settledGroup = (group: () => Promise<GroupMembers>, n: number, partitions: number) =>
  waitUntil(
    `the group to settle with ${n} advertising members`,
    async () => {
      const g = await group();
      const owned = g.members.flatMap((m) => m.partitions);
      const settled =
        g.state === 'Stable' &&
        g.members.length === n &&
        g.members.every((m) => m.endpoint !== undefined && m.partitions.length > 0) &&
        owned.length === partitions;
      return settled ? g : undefined;
    },
    45000,
    200,
  );

const ownerOf = (g: GroupMembers, partition: number) =>
  g.members.find((m) => m.partitions.includes(partition));

test("the owner answers each user's state, equal to the reference; others answer 421", async () => {
  const partitions = 4;
  const { env, start, group } = await setup(partitions);
  const events = generateWorkload({ users: 120, events: 12000, seed: 31, takeoverRate: 0.04 });
  await produceEvents(kafka, env.EVENTS_TOPIC, events);
  const expected = referenceState(events, HISTORY);
  start('a');
  start('b');
  const g = await settledGroup(group, 2, partitions);
  const ends = await waitUntil(
    'the group to catch up',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    60000,
    300,
  );
  const endpoints = new Map(g.members.map((m) => [m.instance!, m.endpoint!]));
  assert.deepEqual([...endpoints.keys()].sort(), ['a', 'b']);

  let compared = 0;
  for (const [userId, state] of expected) {
    const partition = partitionForKey(userId, partitions);
    const owner = ownerOf(g, partition)!;
    // A partition that just moved answers 503 until its new task has restored.
    const answer = await waitUntil(`${userId} answered by ${owner.instance!}`, async () => {
      const a = await askState(owner.instance!, owner.endpoint!, userId);
      return a.status === 503 ? undefined : a;
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.userId, userId);
    assert.equal(answer.body.partition, partition);
    assert.equal(answer.body.instance, owner.instance);
    assert.equal(answer.body.status, 'running');
    assert.equal(answer.body.appliedOffset, ends.get(partition), 'every record of the partition applied');
    const got = answer.body.state!;
    assert.equal(got.sessionIp, state.sessionIp, `${userId} sessionIp`);
    assert.deepEqual(got.knownIps, state.knownIps, `${userId} knownIps`);
    assert.deepEqual(got.trades, state.trades, `${userId} trades`);
    assert.equal(got.median, state.median, `${userId} median`);
    assert.deepEqual(Object.keys(got).sort(), ['knownIps', 'median', 'sessionIp', 'trades']);
    compared++;

    const other = g.members.find((m) => m !== owner)!;
    const misdirected = await askState(other.instance!, other.endpoint!, userId);
    assert.equal(misdirected.status, 421);
    assert.deepEqual(
      { ...misdirected.body, message: undefined },
      {
        error: 'not_owner',
        message: undefined,
        userId,
        partition,
        instance: other.instance,
        status: 'not_owner',
      },
    );
  }
  assert.equal(compared, 120);
  assert.ok(
    [...expected.values()].some((s) => s.knownIps.length > 1 && s.trades.length === HISTORY),
    'the workload builds long histories',
  );

  // A user no event named, in a partition each instance owns: running, state null.
  for (const m of g.members) {
    let i = 0;
    while (!m.partitions.includes(partitionForKey(`nobody-${i}`, partitions))) i++;
    const unknown = await askState(m.instance!, m.endpoint!, `nobody-${i}`);
    assert.equal(unknown.status, 200);
    assert.equal(unknown.body.state, null);
    assert.equal(unknown.body.status, 'running');
  }
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

test('during a rebalance under traffic every answer is the reference state at its offset, or 503/421', async () => {
  const partitions = 6;
  // Small restore fetches: a restore takes many steps, each leaving a partly loaded state that
  // must never be answered.
  const { env, start, group } = await setup(partitions, {
    PROCESSOR_RESTORE_MAX_BYTES_PER_PARTITION: '1024',
  });
  const workload = new StreamingWorkload({ users: 300, seed: 5, runId: uniqueName('w') });
  const users = Array.from({ length: 60 }, (_, i) => workload.userId(i * 5));
  const onePerPartition = new Map(users.map((u) => [partitionForKey(u, partitions), u]));
  assert.equal(onePerPartition.size, partitions, 'the sample covers every partition');

  // Traffic at a steady rate until told to stop.
  const producer = kafka.producer();
  let produced = 0;
  let flowing = true;
  const send = async (n: number) => {
    const batch = Array.from({ length: n }, () => workload.next(Date.now()));
    await producer.send(
      batch.map((e) => ({ topic: env.EVENTS_TOPIC, key: e.userId, value: encodeEvent(e) })),
    );
    produced += n;
  };
  await send(3000);
  const a = start('a');
  const alone = await settledGroup(group, 1, partitions);
  const aUrl = alone.members[0]!.endpoint!;
  assert.equal(aUrl, advertisedUrl(a));
  await waitUntil('a to answer for every partition', async () => {
    const answers = await Promise.all([...onePerPartition.values()].map((u) => askState('a', aUrl, u)));
    return answers.every((x) => x.status === 200);
  });

  const RATE = 1500; // events/s
  const flow = (async () => {
    const t0 = Date.now();
    const base = produced;
    while (flowing) {
      // Pacing a producer, not waiting for a condition.
      const due = t0 + ((produced - base) / RATE) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await send(50);
    }
  })();

  const answers: Answer[] = [];
  const snapshots: GroupMembers[] = [alone];
  const producedBeforeB = produced;
  const b = start('b');
  const deadline = Date.now() + 40000;
  let bUrl: string | undefined;
  let finalGroup: GroupMembers | undefined;
  for (;;) {
    assert.ok(Date.now() < deadline, 'the rebalance completed within 40 s');
    bUrl ??= advertisedUrl(b);
    const targets: [string, string][] = [['a', aUrl]];
    if (bUrl !== undefined) targets.push(['b', bUrl]);
    const roundAnswers = await Promise.all(
      users.flatMap((u) => targets.map(([name, url]) => askState(name, url, u))),
    );
    answers.push(...roundAnswers);
    for (const x of roundAnswers) {
      assert.ok([200, 421, 503].includes(x.status), `${x.instance} ${x.userId}: ${x.status}`);
      assert.equal(x.body.partition, partitionForKey(x.userId, partitions));
      assert.equal(x.body.instance, x.instance);
      if (x.status === 503) {
        assert.equal(x.body.error, 'restoring');
        assert.equal(x.retryAfter, '1');
      }
      if (x.status === 421) assert.equal(x.body.error, 'not_owner');
    }
    const g = await group();
    if (g.state === 'Stable') snapshots.push(g);
    // Settled: both members own partitions, and each user is answered by its owner only.
    const twoOwners =
      g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.partitions.length > 0);
    const settled =
      twoOwners &&
      bUrl !== undefined &&
      users.every((u) => {
        const owner = ownerOf(g, partitionForKey(u, partitions))!.instance;
        const mine = roundAnswers.filter((x) => x.userId === u);
        return mine.every((x) => (x.instance === owner ? x.status === 200 : x.status === 421));
      });
    if (settled) {
      finalGroup = g;
      break;
    }
  }
  const producedDuringRebalance = produced - producedBeforeB;
  flowing = false;
  await flow;
  await producer.close();
  assert.ok(
    producedDuringRebalance > 500,
    `events flowed while the group rebalanced (${producedDuringRebalance})`,
  );

  // The rebalance really happened while we asked: the assignment changed, partitions answered by a
  // were then refused by a and answered by b, and b answered restoring meanwhile.
  const bMember = finalGroup.members.find((m) => m.instance === 'b')!;
  assert.equal(bMember.endpoint, bUrl);
  const aFinal = finalGroup.members.find((m) => m.instance === 'a')!.partitions;
  assert.deepEqual(alone.members[0]!.partitions, [0, 1, 2, 3, 4, 5]);
  assert.ok(aFinal.length < partitions && bMember.partitions.length > 0, 'partitions moved to b');
  const moved = bMember.partitions;
  const first = (instance: string, status: number, p: number) =>
    answers.findIndex((x) => x.instance === instance && x.status === status && x.body.partition === p);
  for (const p of moved) {
    const [answered, refused] = [first('a', 200, p), first('a', 421, p)];
    assert.ok(answered >= 0 && refused > answered, `a answered partition ${p}, then refused it`);
    assert.ok(first('b', 200, p) >= 0, `b answered partition ${p}`);
  }
  const restoring = answers.filter((x) => x.status === 503);
  assert.ok(
    restoring.some((x) => x.instance === 'b'),
    'b answered restoring while it restored',
  );
  // a too may answer 503 for a moment, on any of its partitions: the transaction the rebalance
  // refused held all of them, and they restore from what was committed. b restores only what
  // moved to it.
  assert.ok(
    restoring.filter((x) => x.instance === 'b').every((x) => moved.includes(x.body.partition)),
    'b restores only the partitions that moved to it',
  );

  // Everything is processed: each user is answered by exactly one instance, with the final state.
  const ends = await waitUntil(
    'the group to catch up',
    () => groupCaughtUp(kafka, env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC),
    60000,
    300,
  );
  const records = await readTopicUntil(kafka, env.EVENTS_TOPIC, (m) => m.length >= produced);
  assert.equal(records.length, produced);
  // The records of each partition, in offset order (readTopicUntil interleaves partitions and
  // does not say which is which: the key does, which the offsets 0..n-1 per partition confirm).
  const log = new Map<number, { offset: number; event: GameEvent }[]>();
  for (const m of records) {
    const decoded = decodeEvent(m.value);
    assert.ok(decoded.ok);
    const p = partitionForKey(decoded.event.userId, partitions);
    if (!log.has(p)) log.set(p, []);
    log.get(p)!.push({ offset: Number(m.offset), event: decoded.event });
  }
  for (const [p, rs] of log) {
    rs.sort((x, y) => x.offset - y.offset);
    assert.equal(rs.length, ends.get(p), `partition ${p} holds the records the key maps there`);
    assert.ok(
      rs.every((r, i) => r.offset === i),
      `partition ${p}: offsets 0..${rs.length - 1}`,
    );
  }

  const everyone = [...new Set([...users, ...[...log.values()].flat().map((r) => r.event.userId)])];
  const final: Answer[] = [];
  for (const u of everyone) {
    const pair = await Promise.all([askState('a', aUrl, u), askState('b', bUrl!, u)]);
    const ok = pair.filter((x) => x.status === 200);
    assert.equal(
      ok.length,
      1,
      `${u}: exactly one instance answers (${pair.map((x) => x.status).join(', ')})`,
    );
    assert.equal(ok[0]!.instance, ownerOf(finalGroup, partitionForKey(u, partitions))!.instance);
    assert.equal(pair.find((x) => x !== ok[0])!.status, 421);
    assert.equal(ok[0]!.body.appliedOffset, ends.get(partitionForKey(u, partitions)));
    final.push(ok[0]!);
  }

  // Every 200 is the reference state over the partition's records below its appliedOffset.
  const all200 = [...answers, ...final].filter((x) => x.status === 200);
  let checked = 0;
  for (const [p, rs] of log) {
    const mine = all200
      .filter((x) => x.body.partition === p)
      .sort((x, y) => (x.body.appliedOffset ?? 0) - (y.body.appliedOffset ?? 0));
    const reference = new ReferenceStates(HISTORY);
    let next = 0;
    for (const x of mine) {
      const upTo = x.body.appliedOffset ?? 0;
      while (next < rs.length && rs[next]!.offset < upTo) reference.apply(rs[next++]!.event);
      assert.ok(next === rs.length || rs[next]!.offset >= upTo);
      assert.deepEqual(
        x.body.state,
        reference.stateOf(x.userId),
        `${x.instance} ${x.userId} at partition ${p} offset ${upTo}`,
      );
      checked++;
    }
  }
  assert.equal(checked, all200.length);
  const distinctOffsets = new Set(all200.map((x) => `${x.body.partition}/${x.body.appliedOffset}`)).size;
  assert.ok(distinctOffsets > 20, `answers at many offsets were checked (${distinctOffsets})`);
  process.stdout.write(
    `# rebalance: ${answers.length} answers while it ran (${answers.filter((x) => x.status === 200).length} × 200, ` +
      `${restoring.length} × 503, ${answers.filter((x) => x.status === 421).length} × 421), ${distinctOffsets} offsets, ` +
      `${producedDuringRebalance} events produced meanwhile, ${snapshots.length} group snapshots\n`,
  );
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
