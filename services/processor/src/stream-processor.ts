// The exactly-once stream processor: the loop that connects its roles.
//
// - The group consumer (Kafka port) is assigned partitions of the events topic; the task
//   manager (task-manager.ts) turns each into a partition task (partition-task.ts) that restores
//   the partition's user state from the changelog and then applies its records.
// - The commit scheduler (commit-scheduler.ts) runs one transaction at a time, for every task of
//   this instance (KIP-447: one transactional producer per instance, fenced per consumer-group
//   generation), at most a commit interval after the oldest uncommitted record was applied; the
//   next batches are applied while it runs and go into the next one.
// - A transaction carries the alerts and dead letters each task produced, each user it changed
//   (once, to the compacted changelog) and its offset; the record collector (record-collector.ts)
//   sends them in chunks and keeps the first failure. The offsets are sent last, with the group
//   generation taken when the transaction began: the broker refuses them if the group has moved
//   on since (a rebalance, or this member expelled as a zombie), and the transaction aborts. So
//   a transaction that commits sent everything before the group changed, and a partition's next
//   owner, which restores up to a marker written after the change, sees all of it or none.
// - Failures (processor-errors.ts): migrated — the producer was fenced: every task is closed, a
//   new producer fences the old one, the tasks still assigned restore; corrupted — the tasks of
//   the failed transaction are replaced by restored ones; fatal — the process exits. A
//   transaction refused for its generation is not carried into the next one: a member frozen
//   past its session can rejoin with the same partitions (static membership) after another
//   instance processed them, and carrying its stale transaction would commit their alerts twice
//   (the zombie test saw it). Its tasks restore from what was committed instead.
import type { TradewatchError } from '@tradewatch/shared/errors';
import type {
  GroupConsumer,
  KafkaAdmin,
  RecordBatch,
  TopicPartition,
  TransactionalProducer,
} from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { ChangelogRestorer } from './changelog-restorer.ts';
import { CommitScheduler } from './commit-scheduler.ts';
import { IpInterner } from '@tradewatch/shared/ip-interner';
import { RuleEngine } from '@tradewatch/shared/rule-engine';
import type { RuleSource } from '@tradewatch/shared/rule-feed';
import { PartitionTask, type TaskCommit, type TaskTopics } from './partition-task.ts';
import { TaskCorruptedError, TaskMigratedError, classifyCommitFailure } from './processor-errors.ts';
import type { ProcessorStats } from './processor-stats.ts';
import { RecordCollector } from './record-collector.ts';
import { TaskManager } from './task-manager.ts';
import { UserStateStore } from '@tradewatch/shared/user-state-store';
import type { UserStateLookup, UserStateSource } from './user-state-query.ts';

export interface StreamProcessorOptions {
  consumer: GroupConsumer;
  /** Makes the instance's transactional producer (again, after it was fenced). */
  createProducer: () => TransactionalProducer;
  restorer: Pick<ChangelogRestorer, 'restore' | 'cancel'>;
  admin: Pick<KafkaAdmin, 'committedOffsets' | 'watermarks'>;
  log: Logger;
  stats: ProcessorStats;
  topics: TaskTopics;
  groupId: string;
  /**
   * The rule book and whether it is recent enough: a batch is applied only while the book is
   * known to hold every version written up to a bounded time ago (docs/rules.md).
   */
  rules: RuleSource;
  /** Trades and past sessions kept per user. */
  history: number;
  /** A transaction starts at most this long after the oldest record it commits was applied. */
  commitIntervalMs: number;
  /** Uncommitted records past which the next batch waits for the running transaction. */
  maxUncommittedRecords?: number;
  /** Leave the group on stop (otherwise a static member keeps its partitions for its restart). */
  leaveGroupOnStop?: boolean;
  /** Called once with an error the processor cannot recover from; the process should exit. */
  onFatal: (err: unknown) => void;
  now?: () => number;
}

const NOT_OWNER: UserStateLookup = Object.freeze({ status: 'not_owner' });
const RESTORING: UserStateLookup = Object.freeze({ status: 'restoring' });

export class StreamProcessor implements UserStateSource {
  private readonly o: StreamProcessorOptions;
  private readonly ips = new IpInterner();
  private readonly engine: RuleEngine;
  private readonly tasks: TaskManager;
  private readonly scheduler: CommitScheduler;
  private readonly now: () => number;
  private producer: TransactionalProducer;
  /** A producer being replaced after it was fenced: no transaction until it is ready. */
  private producerReady: Promise<void> = Promise.resolve();
  private stopping = false;
  private fatal = false;

  constructor(options: StreamProcessorOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.engine = new RuleEngine(options.rules.book, options.history);
    this.producer = options.createProducer();
    const events = options.topics.events;
    this.tasks = new TaskManager({
      eventsTopic: events,
      consumer: options.consumer,
      createTask: (partition) => this.createTask(partition),
      startOffset: async (partition) =>
        (await options.admin.watermarks(events)).find((w) => w.partition === partition)?.low ?? 0,
      log: options.log,
      stats: options.stats,
      onFatal: (err) => this.fail(err),
    });
    this.scheduler = new CommitScheduler({
      intervalMs: options.commitIntervalMs,
      maxUncommitted: options.maxUncommittedRecords ?? 10000,
      commit: () => this.commit(),
      now: this.now,
    });
  }

  private createTask(partition: number): PartitionTask {
    const { restorer, admin, topics, groupId } = this.o;
    return new PartitionTask({
      partition,
      topics,
      store: new UserStateStore(this.o.history, this.ips),
      engine: this.engine,
      restore: (store, onProgress) => restorer.restore(partition, store, onProgress),
      cancelRestore: () => restorer.cancel(partition),
      committedOffset: async () => (await admin.committedOffsets(groupId, topics.events)).get(partition),
      log: this.o.log,
      stats: this.o.stats,
      now: this.now,
    });
  }

  get ownedPartitions(): number[] {
    return this.tasks.partitions;
  }

  usersHeld(): number {
    let n = 0;
    for (const users of this.tasks.usersByPartition().values()) n += users;
    return n;
  }

  usersByPartition(): Map<number, number> {
    return this.tasks.usersByPartition();
  }

  /**
   * What this instance can tell about a user of `partition` right now: not its partition, its
   * task is restoring, or the applied state (undefined user: null) and the offset it reflects.
   */
  lookupUser(partition: number, userId: string): UserStateLookup {
    if (
      !this.o.consumer
        .assignment()
        .some((tp) => tp.topic === this.o.topics.events && tp.partition === partition)
    )
      return NOT_OWNER;
    const view = this.tasks.task(partition)?.view(userId);
    return view === undefined ? RESTORING : { status: 'running', ...view };
  }

  async start(): Promise<void> {
    await this.producer.init();
    const events = this.o.topics.events;
    const partitionsOf = (tps: readonly TopicPartition[]) =>
      tps.filter((tp) => tp.topic === events).map((tp) => tp.partition);
    this.o.consumer.failed.catch((err: unknown) => this.fail(err));
    await this.o.consumer.start({
      onAssigned: (tps) => this.tasks.assigned(partitionsOf(tps)),
      onRevoked: (tps, lost) => this.tasks.revoked(partitionsOf(tps), lost),
      onRecords: (batch) => this.onRecords(batch),
    });
  }

  private onRecords(batch: RecordBatch): Promise<void> | undefined {
    if (this.stopping) return undefined;
    const task = this.tasks.running(batch.partition);
    if (task === undefined) return undefined; // restoring or gone: fetched again after its seek
    // A book that may miss a version written a while ago waits (the next fetch waits with it).
    if (!this.o.rules.isFresh(this.now())) {
      return this.o.rules
        .fresh()
        .then(() =>
          this.tasks.running(batch.partition) === task ? this.applyBatch(task, batch) : undefined,
        );
    }
    return this.applyBatch(task, batch);
  }

  private applyBatch(task: PartitionTask, batch: RecordBatch): Promise<void> | undefined {
    if (this.stopping) return undefined;
    const applied = task.process(batch.records, batch.nextOffset);
    this.o.stats.highWatermark(batch.partition, batch.highWatermark);
    this.scheduler.applied(Math.max(applied, 1));
    return this.scheduler.backPressure();
  }

  /** One transaction over what every running task applied since its last commit. Never rejects. */
  private async commit(): Promise<void> {
    try {
      await this.commitOnce();
    } catch (err) {
      this.fail(err);
    }
  }

  private async commitOnce(): Promise<void> {
    if (this.fatal) return;
    await this.producerReady;
    const group = this.o.consumer.groupMetadata();
    const commits: { task: PartitionTask; commit: TaskCommit }[] = [];
    for (const task of this.tasks.allRunning()) {
      const commit = task.prepareCommit();
      if (commit !== undefined) commits.push({ task, commit });
    }
    if (commits.length === 0) return;
    const producer = this.producer;
    const started = performance.now();
    try {
      await producer.begin();
      const collector = new RecordCollector(producer);
      for (const { commit } of commits) {
        await collector.send(commit.output);
        await collector.send(commit.changelog);
      }
      await collector.flush();
      await producer.sendOffsets(
        commits.map(({ commit }) => ({
          topic: this.o.topics.events,
          partition: commit.partition,
          offset: commit.nextOffset,
        })),
        group,
      );
      await producer.commit();
    } catch (err) {
      await producer.abort().catch(() => undefined);
      this.failed(
        classifyCommitFailure(
          err,
          commits.map(({ commit }) => commit.partition),
        ),
      );
      return;
    }
    const commitMs = performance.now() - started;
    this.o.stats.transactionCommitted(commitMs);
    for (const { task, commit } of commits) {
      task.postCommit(commit.nextOffset);
      this.o.stats.committed({
        partition: commit.partition,
        events: commit.events,
        duplicates: commit.duplicates,
        alerts: commit.alerts,
        shadowAlerts: commit.shadowAlerts,
        deadLetters: commit.deadLetters,
        usersWritten: commit.changelog.length,
        commitMs,
        nextOffset: commit.nextOffset,
      });
    }
  }

  /** Acts on a failed transaction as its classification says. */
  private failed(e: TradewatchError): void {
    if (this.stopping) return;
    if (e instanceof TaskMigratedError) {
      this.o.log.warn({ err: e }, 'producer fenced: every task migrated, replacing the producer');
      this.tasks.migrated('migrated');
      const old = this.producer;
      this.producer = this.o.createProducer();
      this.producerReady = old
        .close()
        .catch(() => undefined)
        .then(() => this.producer.init())
        .catch((err: unknown) => this.fail(err));
      return;
    }
    if (e instanceof TaskCorruptedError) {
      this.o.log.warn({ err: e, partitions: e.partitions }, 'transaction failed: its tasks restore');
      this.tasks.corrupted(e.partitions, 'corrupted');
      return;
    }
    this.fail(e);
  }

  private fail(err: unknown): void {
    if (this.fatal || this.stopping) return;
    this.fatal = true;
    this.scheduler.stop();
    this.o.onFatal(err);
  }

  /** Commits what was applied, closes the tasks and the producer, and stops consuming. */
  async stop(): Promise<void> {
    this.stopping = true; // no batch is applied from here on
    this.scheduler.stop();
    await this.scheduler.flush();
    this.tasks.closeAll('shutdown');
    await this.o.consumer.close({ leaveGroup: this.o.leaveGroupOnStop ?? false });
    await this.producer.close().catch((err: unknown) => this.o.log.warn({ err }, 'producer close failed'));
  }
}
