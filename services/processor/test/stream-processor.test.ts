// The processor's roles without a broker, on fakes of the Kafka port (test/support/fake-kafka.ts):
// a task's state machine; the record collector's chunks and first failure; the commit
// scheduler's interval and back-pressure; and the whole loop, whose committed alerts must be
// exactly the reference rule's whatever fails — an injected commit failure (the tasks restore),
// a rebalance while a transaction is open (its offsets are refused, it aborts), a fenced producer
// (every task migrates to a new producer), and partitions revoked and assigned again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import type { TradewatchError } from '@tradewatch/shared/errors';
import { createLogger } from '@tradewatch/shared/logger';
import type { OutgoingRecord } from '@tradewatch/shared/kafka-port';
import { referenceAlerts, referenceRuleAlerts } from '../../../test/support/reference-rule.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import { ChangelogRestorer } from '../src/changelog-restorer.ts';
import { CommitScheduler } from '../src/commit-scheduler.ts';
import { RuleEngine } from '@tradewatch/shared/rule-engine';
import { fixedRules, type RuleSource } from '@tradewatch/shared/rule-feed';
import { RULE_HISTORY, RuleBook, SEED_RULE, type RuleDefinition } from '@tradewatch/shared/rules';
import { IpInterner } from '@tradewatch/shared/ip-interner';
import { PartitionTask, TRANSITIONS } from '../src/partition-task.ts';
import { ProcessorStats } from '../src/processor-stats.ts';
import { RecordCollector } from '../src/record-collector.ts';
import { StreamProcessor } from '../src/stream-processor.ts';
import { UserStateStore } from '@tradewatch/shared/user-state-store';
import {
  FakeBroker,
  FakeGroupConsumer,
  FakePartitionReader,
  FakeProducer,
  FakeTransactionalProducer,
} from './support/fake-kafka.ts';

const log = createLogger('test', process.env.TEST_LOG === '1' ? 'debug' : 'silent');
const TOPICS = {
  events: 'events',
  alerts: 'alerts',
  shadowAlerts: 'alerts.shadow',
  changelog: 'changelog',
  deadLetters: 'dlq',
};

test('a task moves only along its table; closing twice is harmless; a closed task does nothing', async () => {
  assert.deepEqual(TRANSITIONS, {
    created: ['restoring', 'closed'],
    restoring: ['running', 'closed'],
    running: ['closed'],
    closed: [],
  });
  let cancelled = 0;
  let finishRestore: (n: number) => void = () => undefined;
  const task = new PartitionTask({
    partition: 0,
    topics: TOPICS,
    store: new UserStateStore(20, new IpInterner()),
    engine: new RuleEngine(new RuleBook(), RULE_HISTORY),
    restore: () => new Promise((resolve) => (finishRestore = resolve)),
    cancelRestore: () => void cancelled++,
    committedOffset: () => Promise.resolve(5),
    log,
    stats: new ProcessorStats(),
    now: () => 0,
  });
  assert.equal(task.state, 'created');
  const started = task.initialize();
  assert.equal(task.state, 'restoring');
  await assert.rejects(task.initialize(), (e: TradewatchError) => e.code === 'PROCESSOR_TASK_STATE');
  task.close('revoked');
  task.close('revoked again');
  assert.equal(task.state, 'closed');
  assert.equal(cancelled, 1, 'a restore in progress is cancelled once');
  finishRestore(0);
  assert.equal(await started, undefined, 'a restore that ends after the close starts nothing');
  const record = {
    offset: 9,
    timestamp: 0,
    key: Buffer.from('u'),
    value: Buffer.from('{}'),
    headers: new Map(),
  };
  assert.equal(task.process([record], 10), 0);
  assert.equal(task.prepareCommit(), undefined);
  assert.equal(task.view('u'), undefined);
});

test('the record collector sends in chunks, loses none, and keeps the first failure', async () => {
  const sent: OutgoingRecord[][] = [];
  let fail = false;
  const collector = new RecordCollector(
    {
      send: async (records) => {
        await sleep(1);
        if (fail) throw new Error('broker says no');
        sent.push([...records]);
      },
    },
    1000,
  );
  const records = Array.from({ length: 30 }, (_, i) => ({
    topic: 't',
    key: `k${i}`,
    value: 'x'.repeat(100),
  }));
  await collector.send(records.slice(0, 20));
  await collector.send(records.slice(20));
  await collector.flush();
  assert.ok(sent.length >= 3, `several chunks (${sent.length})`);
  // Chunks may complete in any order (the producer keeps each partition's order); none is lost.
  const byKey = (a: OutgoingRecord, b: OutgoingRecord) => String(a.key).localeCompare(String(b.key));
  assert.deepEqual(sent.flat().sort(byKey), [...records].sort(byKey));

  const failing = new RecordCollector(
    {
      send: async () => {
        await sleep(1);
        if (fail) throw new Error('broker says no');
      },
    },
    1000,
  );
  fail = true;
  await failing.send(records).catch(() => undefined); // may already meet the failure
  await sleep(20);
  await assert.rejects(failing.send(records), /broker says no/);
  await assert.rejects(failing.flush(), /broker says no/);
});

test('the commit scheduler waits the interval, commits at once when full, and holds batches back', async () => {
  let now = 0;
  let commits = 0;
  let release: () => void = () => undefined;
  const scheduler = new CommitScheduler({
    intervalMs: 50,
    maxUncommitted: 10,
    now: () => now,
    commit: () => {
      commits++;
      return new Promise<void>((resolve) => (release = resolve));
    },
  });
  scheduler.applied(3);
  assert.equal(commits, 0, 'not before the interval');
  now = 60;
  await sleep(70);
  assert.equal(commits, 1, 'after the interval');
  scheduler.applied(12);
  assert.ok(scheduler.backPressure() !== undefined, 'too much uncommitted while one runs: wait');
  assert.equal(commits, 1, 'never two at once');
  release();
  await sleep(5);
  assert.equal(commits, 2, 'full: the next one starts when the running one ends');
  release();
  scheduler.stop();
  await scheduler.flush();
});

interface Harness {
  broker: FakeBroker;
  restorer: ChangelogRestorer;
  consumer: FakeGroupConsumer;
  processor: StreamProcessor;
  producers: FakeTransactionalProducer[];
  expected: string[];
  events: GameEvent[];
  total: number;
  fatal: unknown[];
}

const setup = async (
  partitions: number,
  failCommits: number[] = [],
  rules: RuleSource = fixedRules(new RuleBook()),
): Promise<Harness> => {
  const events = generateWorkload({
    users: 40,
    events: 2400,
    seed: 21,
    takeoverRate: 0.08,
    duplicateRate: 0.03,
  });
  const expected = referenceAlerts(events)
    .map((a) => a.alertId)
    .sort();
  assert.ok(expected.length > 10);
  const broker = new FakeBroker();
  broker.createTopic('events', partitions);
  broker.createTopic('alerts', partitions);
  broker.createTopic('changelog', partitions);
  broker.createTopic('dlq', 1);
  broker.append(events.map((e) => ({ topic: 'events', key: e.userId, value: encodeEvent(e) })));
  broker.failCommits = new Set(failCommits);
  const consumer = new FakeGroupConsumer(broker, 'g');
  const producers: FakeTransactionalProducer[] = [];
  const fatal: unknown[] = [];
  const admin = broker.admin();
  const restorer = new ChangelogRestorer({
    reader: new FakePartitionReader(broker),
    markers: new FakeProducer(broker),
    admin,
    topic: 'changelog',
    log,
  });
  const processor = new StreamProcessor({
    consumer,
    createProducer: () => {
      const p = new FakeTransactionalProducer(broker, 'g-instance-a');
      producers.push(p);
      return p;
    },
    restorer,
    admin,
    log,
    stats: new ProcessorStats(),
    topics: TOPICS,
    groupId: 'g',
    rules,
    history: RULE_HISTORY,
    commitIntervalMs: 1,
    maxUncommittedRecords: 200,
    onFatal: (err) => fatal.push(err),
  });
  await processor.start();
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: 'events', partition })));
  return { broker, restorer, consumer, processor, producers, expected, events, total: events.length, fatal };
};

/** Fetch rounds until the group committed the end of every partition; `during(round)` meddles. */
const runToEnd = async (h: Harness, during: (round: number) => void = () => undefined) => {
  let overlapped = 0;
  const committedTotal = () => [...(h.broker.committed.get('g')?.values() ?? [])].reduce((n, o) => n + o, 0);
  for (let round = 0; committedTotal() < h.total && round < 20000; round++) {
    during(round);
    if (h.broker.open > 0) overlapped++;
    await h.consumer.pump();
    await sleep(1); // a fetch takes a while: timers (the commit interval) get their turn
    assert.deepEqual(h.fatal, []);
  }
  await h.processor.stop();
  await h.restorer.stop();
  assert.equal(committedTotal(), h.total, 'everything committed in the end');
  return { overlapped };
};

const committedAlertIds = (broker: FakeBroker) =>
  broker
    .records('alerts')
    .map((r) => decodeAlert(r.value!).alertId)
    .sort();

test('failed transactions: their tasks restore from what was committed; the alerts are exactly the reference', async () => {
  const h = await setup(2, [3, 7, 8, 15]);
  const { overlapped } = await runToEnd(h);
  assert.ok(overlapped > 0, 'batches were applied while a transaction was committing');
  const got = committedAlertIds(h.broker);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, h.expected);
  assert.ok(
    h.broker.records('changelog').some((r) => r.key?.[0] === 0),
    'restores wrote markers',
  );
  assert.equal(h.producers.length, 1, 'one transactional producer for every partition');
  assert.deepEqual(
    h.consumer.closedWith,
    { leaveGroup: false },
    'a static member keeps its partitions on stop',
  );
});

test('a rebalance while a transaction is open: refused for its generation, it aborts, its tasks restore, nothing twice', async () => {
  const h = await setup(3);
  let rebalances = 0;
  await runToEnd(h, (round) => {
    if (h.broker.open > 0 && rebalances < 6 && round % 3 === 0) {
      h.broker.rebalance(); // this member stays; its open transaction's offsets are refused
      rebalances++;
    }
  });
  assert.ok(rebalances >= 3, `rebalances during open transactions (${rebalances})`);
  const got = committedAlertIds(h.broker);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, h.expected);
  // Nothing is carried into the next transaction (a zombie could carry a stale one): the refused
  // transaction's partitions restore, each writing a marker again.
  const markers = h.broker.records('changelog').filter((r) => r.key?.[0] === 0).length;
  assert.ok(markers > 3, `the refused transactions' partitions restored (${markers} markers)`);
});

test('an expelled member: its transaction is refused and its tasks restore; nothing twice', async () => {
  const h = await setup(3);
  const all = [0, 1, 2].map((partition) => ({ topic: 'events', partition }));
  await runToEnd(h, (round) => {
    if (round % 37 === 5) {
      h.broker.rebalance(true); // a new member id: the old one's offsets are refused
      h.consumer.revoke(all, true);
      h.consumer.assign(all);
    }
  });
  const got = committedAlertIds(h.broker);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, h.expected);
});

test('a fenced producer: every task migrates and a new producer carries on', async () => {
  const h = await setup(2);
  let fencedAt = -1;
  await runToEnd(h, (round) => {
    // Another process initialised this instance's transactional id (a restart of itself).
    if (round === 30) {
      fencedAt = round;
      h.broker.initEpoch('g-instance-a');
    }
  });
  assert.equal(fencedAt, 30);
  assert.equal(h.producers.length, 2, 'the fenced producer was replaced');
  assert.equal(h.producers[0]!.closed, true);
  const got = committedAlertIds(h.broker);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, h.expected);
});

test('partitions revoked mid-stream and assigned again restore; the query says who answers', async () => {
  const h = await setup(2);
  const p1 = { topic: 'events', partition: 1 };
  await runToEnd(h, (round) => {
    if (round === 20) {
      h.consumer.revoke([p1]);
      assert.deepEqual(h.processor.lookupUser(1, 'anyone'), { status: 'not_owner' });
    }
    if (round === 40) {
      h.consumer.assign([p1]);
      assert.deepEqual(h.processor.lookupUser(1, 'anyone'), { status: 'restoring' });
    }
  });
  const got = committedAlertIds(h.broker);
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, h.expected);
});

/** A rule book that is stale until `open`: what a processor sees while the rules topic lags. */
class GatedRules implements RuleSource {
  readonly book = new RuleBook();
  private open_ = false;
  private waiters: (() => void)[] = [];
  get waiting(): number {
    return this.waiters.length;
  }
  isFresh(): boolean {
    return this.open_;
  }
  fresh(): Promise<void> {
    return this.open_ ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
  open(): void {
    this.open_ = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

test('no event is applied while the rule book may be stale; a version read meanwhile judges the held batch', async () => {
  const rules = new GatedRules();
  const h = await setup(2, [], rules);
  let delivering: Promise<number> | undefined;
  for (let round = 0; round < 5000 && rules.waiting === 0; round++) {
    delivering = h.consumer.pump();
    // A fetch takes a while (the restore's timers get their turn); a batch held at the gate stays pending.
    await Promise.race([delivering.then(() => sleep(1)), sleep(5)]);
  }
  if (rules.waiting === 0) {
    await h.processor.stop();
    await h.restorer.stop();
    assert.fail('no fetched batch waited for the rule book');
  }
  await sleep(30); // commit intervals pass: nothing may be applied, so nothing is committed
  assert.equal(h.broker.records('alerts').length, 0);
  assert.equal(
    [...(h.broker.committed.get('g')?.values() ?? [])].reduce((n, o) => n + o, 0),
    0,
  );

  // The rules topic catches up with a version in force for every event: all of them get it.
  const v2: RuleDefinition = {
    ...SEED_RULE,
    version: 2,
    author: 't',
    reason: 't',
    createdAt: 1,
    params: { ...SEED_RULE.params, amountFactor: 2 },
  };
  rules.book.add(v2);
  rules.open();
  await delivering;
  await runToEnd(h);
  const expected = referenceRuleAlerts(h.events, [SEED_RULE, v2])
    .filter((a) => !a.shadow)
    .map((a) => `${a.alertId}@${a.ruleVersion}`)
    .sort();
  assert.ok(expected.length > h.expected.length, 'the lower factor raises more than the seed');
  const got = h.broker
    .records('alerts')
    .map((r) => decodeAlert(r.value!))
    .map((a) => `${a.alertId}@${a.ruleVersion}`)
    .sort();
  assert.deepEqual(got, expected);
});
