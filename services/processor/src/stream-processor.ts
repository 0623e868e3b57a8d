// The exactly-once stream processor. One task per assigned input partition owns that
// partition's user state and a transactional producer with the id `<prefix>-<partition>`.
// A task applies each fetched batch to its state at once and collects what it produced; every
// commit interval, one Kafka transaction carries the alerts raised, each user changed since the
// previous commit (once, to the compacted changelog) and the consumed offsets. The transaction
// runs while the next batches are fetched and applied; those go into the next transaction.
//
// A task that is newly assigned first fences the previous owner (InitProducerId), commits a
// restore marker, restores its state from the changelog up to that marker, and only then reads
// the group's committed offset: after fencing, no transaction of the previous owner is open, so
// that offset is exactly where the restored state ends (kafkajs has no KIP-447 and may have
// fetched an older one at join time). The task skips records below the offset its state has
// reached. Any failure drops the task's state and rewinds the consumer to the last commit: the
// next owner (or this process, after kafkajs retries or restarts the consumer) restores it from
// what was committed.
//
// A partition's task starts when the partition is assigned (so that an idle partition is restored
// too) and is RESTORING until its state and offset are known, then RUNNING. `lookupUser` reads a
// running task's applied state for the interactive query (user-state-query.ts): a batch is applied
// and its offset recorded in one synchronous step, so the state read always matches the offset.
import type { Alert } from '@tradewatch/shared/alerts';
import { TradewatchError } from '@tradewatch/shared/errors';
import { encodeAlert } from '@tradewatch/shared/alerts';
import { decodeEvent } from '@tradewatch/shared/events';
import {
  classifyKafkaError,
  createTransactionalProducer,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type Message,
  type Producer,
} from '@tradewatch/shared/kafka';
import type { Logger } from '@tradewatch/shared/logger';
import { ChangelogRestorer, RESTORE_MARKER_KEY } from './changelog-restorer.ts';
import { LargeTradeDetector, type RuleParams } from './detect-large-trade.ts';
import { IpInterner } from './ip-interner.ts';
import { UserStateStore } from './user-state-store.ts';
import type { ProcessorStats } from './processor-stats.ts';
import type { UserStateLookup, UserStateSource } from './user-state-query.ts';

export interface StreamProcessorOptions {
  kafka: Kafka;
  admin: Admin;
  consumer: Consumer;
  restorer: ChangelogRestorer;
  log: Logger;
  stats: ProcessorStats;
  eventsTopic: string;
  alertsTopic: string;
  changelogTopic: string;
  deadLetterTopic: string;
  groupId: string;
  transactionalIdPrefix: string;
  transactionTimeoutMs: number;
  rule: RuleParams;
  partitionsConsumedConcurrently: number;
  /** A transaction starts at most this long after the oldest record it commits was applied. */
  commitIntervalMs: number;
  /** Uncommitted records of one partition past which its next batch waits for the commit. */
  maxUncommittedRecords?: number;
  now?: () => number;
}

/**
 * Bytes of records per produce request within a transaction: each partition's share is one
 * record batch, which must stay below the broker's default message.max.bytes (1 MiB). Smaller
 * than that because kafkajs groups a request's messages by partition in quadratic time.
 */
const SEND_CHUNK_BYTES = 512 * 1024;
/** Per-record overhead in a record batch, as counted towards SEND_CHUNK_BYTES. */
const RECORD_OVERHEAD = 24;
const ENCODE_CHUNK_BYTES = 256 * 1024;

interface PartitionTask {
  partition: number;
  /** restoring: fencing the previous owner and loading the state; running: applying records. */
  phase: 'restoring' | 'running';
  producer: Producer;
  store: UserStateStore;
  ready: Promise<void>;
  /** Offset after the last record applied to the state; undefined until known. */
  applied: number | undefined;
  /** Offset after the last record whose effects are committed: where to rewind on failure. */
  committed: number | undefined;
  alerts: Message[];
  deadLetters: Message[];
  events: number;
  duplicates: number;
  /** When the oldest uncommitted record was applied (now()), or 0 when nothing is pending. */
  pendingSince: number;
  inflight: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  failed: Error | undefined;
}

const NOT_OWNER: UserStateLookup = Object.freeze({ status: 'not_owner' });
const RESTORING: UserStateLookup = Object.freeze({ status: 'restoring' });

export class StreamProcessor implements UserStateSource {
  private readonly o: StreamProcessorOptions;
  private readonly tasks = new Map<number, PartitionTask>();
  /** Partitions of the events topic assigned to this member by its last join; none when out. */
  private assigned: ReadonlySet<number> = new Set();
  private readonly ips = new IpInterner();
  private readonly detector: LargeTradeDetector;
  private lastMemberId: string | undefined;
  private readonly now: () => number;
  private readonly maxUncommitted: number;

  constructor(options: StreamProcessorOptions) {
    this.o = options;
    this.detector = new LargeTradeDetector(options.rule);
    this.now = options.now ?? Date.now;
    this.maxUncommitted = options.maxUncommittedRecords ?? 10000;
  }

  get ownedPartitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  usersHeld(): number {
    let n = 0;
    for (const t of this.tasks.values()) n += t.store.size;
    return n;
  }

  /** Users held per owned partition. */
  usersByPartition(): Map<number, number> {
    return new Map([...this.tasks].map(([p, t]) => [p, t.store.size]));
  }

  /**
   * What this instance can tell about a user of `partition` right now: not its partition, its
   * task is restoring, or the applied state (undefined user: null) and the offset it reflects.
   */
  lookupUser(partition: number, userId: string): UserStateLookup {
    if (!this.assigned.has(partition)) return NOT_OWNER;
    const task = this.tasks.get(partition);
    // A task whose transaction failed is about to be dropped and restored: not answered from.
    if (task === undefined || task.phase !== 'running' || task.failed !== undefined) return RESTORING;
    return { status: 'running', appliedOffset: task.applied ?? null, state: task.store.view(userId) ?? null };
  }

  async start(): Promise<void> {
    const { consumer } = this.o;
    // kafkajs left the group; it rejoins as a new member if it restarts.
    consumer.on(consumer.events.CRASH, () => {
      this.assigned = new Set();
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.o.eventsTopic] ?? []);
      this.assigned = assigned;
      // Keep a task's state across a rebalance only if this member kept its identity: a member
      // that was expelled and rejoined cannot know who processed its partitions meanwhile.
      // (Even then fencing protects the output: a stale task's next commit fails as fenced.)
      const sameMember = this.lastMemberId === payload.memberId;
      this.lastMemberId = payload.memberId;
      for (const partition of [...this.tasks.keys()]) {
        if (!sameMember || !assigned.has(partition)) void this.dropTask(partition, 'revoked');
      }
      const partitions = [...assigned].sort((a, b) => a - b);
      this.o.stats.assigned(partitions);
      this.o.log.info({ memberId: payload.memberId, partitions }, 'partitions assigned');
      for (const partition of partitions) this.task(partition);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.o.eventsTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // A batch's offset is resolved only once it is applied to a task's state; one that is
      // skipped (stale, task gone) is fetched again.
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.processBatch(payload),
    });
  }

  /** Stops consuming, commits what was applied, and closes the producers. */
  async stop(): Promise<void> {
    this.assigned = new Set();
    await this.o.consumer.disconnect();
    await Promise.all([...this.tasks.keys()].map((p) => this.dropTask(p, 'shutdown', true)));
  }

  private task(partition: number): PartitionTask {
    let task = this.tasks.get(partition);
    if (task === undefined) {
      const producer = createTransactionalProducer(
        this.o.kafka,
        `${this.o.transactionalIdPrefix}-${partition}`,
        this.o.transactionTimeoutMs,
      );
      const store = new UserStateStore(this.o.rule.history, this.ips);
      task = {
        partition,
        phase: 'restoring',
        producer,
        store,
        ready: Promise.resolve(),
        applied: undefined,
        committed: undefined,
        alerts: [],
        deadLetters: [],
        events: 0,
        duplicates: 0,
        pendingSince: 0,
        inflight: undefined,
        timer: undefined,
        failed: undefined,
      };
      task.ready = this.initTask(task);
      this.tasks.set(partition, task);
      const started = task;
      // A batch waiting for the task meets the same error and handles it (rewind, rethrow to
      // kafkajs); without one (an idle partition) the task is dropped here, and the next batch or
      // assignment starts another.
      task.ready.catch((err: unknown) => {
        if (this.tasks.get(partition) !== started) return; // dropped already (revoked, stopping)
        this.o.log.warn({ err, partition }, 'partition task failed to start');
        void this.dropTask(partition, 'failed to start');
      });
    }
    return task;
  }

  /** Fences the previous owner, commits a restore marker, restores the state up to it. */
  private async initTask(task: PartitionTask): Promise<void> {
    const started = this.now();
    await task.producer.connect();
    const marker = ChangelogRestorer.markerValue();
    const txn = await task.producer.transaction();
    try {
      await txn.send({
        topic: this.o.changelogTopic,
        messages: [{ key: RESTORE_MARKER_KEY, value: marker, partition: task.partition }],
      });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    this.o.stats.restoreStarted(task.partition);
    const records = await this.o.restorer.restore(task.partition, task.store, marker, (n) =>
      this.o.stats.restoreProgress(task.partition, n, task.store.size),
    );
    // The previous owner is fenced: the committed offset is now stable and matches the state.
    const [offsets] = await this.o.admin.fetchOffsets({
      groupId: this.o.groupId,
      topics: [this.o.eventsTopic],
    });
    const committed = Number(offsets?.partitions.find((p) => p.partition === task.partition)?.offset ?? -1);
    if (committed >= 0) {
      task.applied = committed;
      task.committed = committed;
    }
    task.phase = 'running';
    const ms = this.now() - started;
    this.o.stats.restored(task.partition, records, task.store.size, ms);
    this.o.log.info(
      { partition: task.partition, users: task.store.size, records, ms, offset: task.applied },
      'partition restored',
    );
  }

  /** Forgets a task; with `flush`, first commits what it applied (a clean shutdown). */
  private async dropTask(partition: number, reason: string, flush = false): Promise<void> {
    const task = this.tasks.get(partition);
    if (task === undefined) return;
    this.tasks.delete(partition);
    clearTimeout(task.timer);
    this.o.restorer.cancel(partition);
    this.o.stats.dropped(partition);
    this.o.log.info({ partition, reason }, 'partition task dropped');
    try {
      await task.ready;
      await task.inflight;
      if (flush && task.failed === undefined && task.pendingSince !== 0) await this.commit(task);
    } catch {
      // the state is dropped; what was committed stays committed
    }
    await task.producer
      .disconnect()
      .catch((err: unknown) => this.o.log.warn({ err, partition }, 'producer disconnect failed'));
  }

  private async processBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload) {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const partition = batch.partition;
    const task = this.task(partition);
    try {
      await this.waitReady(task, heartbeat);
      if (!isRunning() || isStale() || this.tasks.get(partition) !== task) return;
      throwIfFailed(task);
      this.apply(task, batch.messages, batch.topic);
      const next = Number(batch.lastOffset()) + 1;
      if (task.applied === undefined || next > task.applied) task.applied = next;
      task.committed ??= Number(batch.messages[0]!.offset);
      resolveOffset(batch.lastOffset());
      this.o.stats.highWatermark(partition, Number(batch.highWatermark));
      this.scheduleCommit(task);
      // Backpressure: a partition far ahead of its commits waits for them.
      if (task.events + task.deadLetters.length >= this.maxUncommitted && task.inflight !== undefined) {
        await task.inflight;
        throwIfFailed(task);
      }
    } catch (err) {
      // The in-memory state may be ahead of what was committed: forget it, let kafkajs re-fetch
      // from the committed offset (retriable) or crash the process (not retriable).
      this.rewind(task);
      await this.dropTask(partition, 'failed');
      const e = classifyKafkaError(err);
      // A fenced producer means another owner took the partition: rejoin, do not crash. kafkajs
      // reads `retriable` from the innermost cause, so this error carries none.
      if (e.code === 'KAFKA_FENCED')
        throw new TradewatchError('KAFKA_FENCED', e.message, { retriable: true });
      throw e;
    }
  }

  private async waitReady(task: PartitionTask, heartbeat: () => Promise<void>): Promise<void> {
    let settled = false;
    const ready = task.ready.finally(() => {
      settled = true;
    });
    while (!settled) {
      await Promise.race([ready, new Promise((r) => setTimeout(r, 1000))]);
      if (!settled) await heartbeat();
    }
    await ready;
  }

  /** Applies records at or past `task.applied` to the state and collects their output. */
  private apply(task: PartitionTask, messages: KafkaMessage[], topic: string): void {
    const now = this.now();
    const from = task.applied ?? 0;
    let applied = 0;
    for (const m of messages) {
      if (Number(m.offset) < from) continue; // already in the state (re-fetched after a rejoin)
      applied++;
      const decoded = decodeEvent(m.value);
      if (!decoded.ok) {
        task.deadLetters.push(this.deadLetter(m, topic, task.partition, decoded.reason, decoded.detail));
        continue;
      }
      const ev = decoded.event;
      if (m.key?.toString('utf8') !== ev.userId) {
        task.deadLetters.push(
          this.deadLetter(m, topic, task.partition, 'key_mismatch', 'record key is not the userId'),
        );
        continue;
      }
      task.events++;
      const outcome = this.detector.apply(task.store, ev, now);
      if (outcome.kind === 'duplicate') task.duplicates++;
      else if (outcome.alert !== undefined) task.alerts.push(alertMessage(outcome.alert));
    }
    if (applied > 0 && task.pendingSince === 0) task.pendingSince = now;
  }

  /** Starts the task's next transaction when it is due and none is running. */
  private scheduleCommit(task: PartitionTask): void {
    if (task.inflight !== undefined || task.failed !== undefined || task.pendingSince === 0) return;
    if (this.tasks.get(task.partition) !== task) return;
    const wait = task.pendingSince + this.o.commitIntervalMs - this.now();
    const full = task.events + task.deadLetters.length >= this.maxUncommitted;
    if (wait > 0 && !full) {
      task.timer ??= setTimeout(() => {
        task.timer = undefined;
        this.scheduleCommit(task);
      }, wait);
      return;
    }
    clearTimeout(task.timer);
    task.timer = undefined;
    task.inflight = this.commit(task).then(
      () => {
        task.inflight = undefined;
        this.scheduleCommit(task);
      },
      (err: unknown) => {
        task.inflight = undefined;
        task.failed = err instanceof Error ? err : new Error(String(err));
        this.o.log.warn({ err, partition: task.partition }, 'transaction failed');
        this.rewind(task);
      },
    );
  }

  /** Points the consumer back at the task's last commit, so that nothing uncommitted is lost. */
  private rewind(task: PartitionTask): void {
    if (this.tasks.get(task.partition) !== task || task.committed === undefined) return;
    try {
      this.o.consumer.seek({
        topic: this.o.eventsTopic,
        partition: task.partition,
        offset: String(task.committed),
      });
    } catch (err) {
      // The consumer is stopping: a restarted one starts from the committed offsets anyway.
      this.o.log.debug({ err, partition: task.partition }, 'rewind skipped');
    }
  }

  /** Commits everything applied so far in one transaction: alerts, changelog, offsets. */
  private async commit(task: PartitionTask): Promise<void> {
    const nextOffset = task.applied!;
    const alerts = task.alerts;
    const deadLetters = task.deadLetters;
    const events = task.events;
    const duplicates = task.duplicates;
    task.alerts = [];
    task.deadLetters = [];
    task.events = 0;
    task.duplicates = 0;
    task.pendingSince = 0;
    const changelog = this.encodeChangelog(task);

    const started = performance.now();
    const txn = await task.producer.transaction();
    try {
      let chunk: { topic: string; messages: Message[] }[] = [];
      let bytes = 0;
      const flush = async () => {
        const topicMessages = chunk.filter((t) => t.messages.length > 0);
        chunk = [];
        bytes = 0;
        if (topicMessages.length > 0) await txn.sendBatch({ topicMessages, acks: -1 });
      };
      for (const [topic, messages] of [
        [this.o.alertsTopic, alerts],
        [this.o.changelogTopic, changelog],
        [this.o.deadLetterTopic, deadLetters],
      ] as const) {
        let current: Message[] = [];
        chunk.push({ topic, messages: current });
        for (const m of messages) {
          bytes += messageSize(m);
          current.push(m);
          if (bytes >= SEND_CHUNK_BYTES) {
            await flush();
            current = [];
            chunk.push({ topic, messages: current });
          }
        }
      }
      await flush();
      await txn.sendOffsets({
        consumerGroupId: this.o.groupId,
        topics: [
          {
            topic: this.o.eventsTopic,
            partitions: [{ partition: task.partition, offset: String(nextOffset) }],
          },
        ],
      });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    task.committed = nextOffset;
    this.o.stats.committed({
      partition: task.partition,
      events,
      duplicates,
      alerts: alerts.length,
      deadLetters: deadLetters.length,
      usersWritten: changelog.length,
      commitMs: performance.now() - started,
      nextOffset,
    });
  }

  /** Each user changed since the last commit, once, encoded straight from the store. */
  private encodeChangelog(task: PartitionTask): Message[] {
    const { store, partition } = task;
    const slots = store.takeDirty();
    const out: Message[] = new Array<Message>(slots.length);
    const max = store.maxEncodedSize;
    let buf = Buffer.allocUnsafe(Math.max(ENCODE_CHUNK_BYTES, max));
    let o = 0;
    for (let i = 0; i < slots.length; i++) {
      if (buf.length - o < max) {
        buf = Buffer.allocUnsafe(Math.max(ENCODE_CHUNK_BYTES, max));
        o = 0;
      }
      const end = store.encodeInto(slots[i]!, buf, o);
      out[i] = { key: store.userIdOf(slots[i]!), value: buf.subarray(o, end), partition };
      o = end;
    }
    return out;
  }

  private deadLetter(
    m: KafkaMessage,
    topic: string,
    partition: number,
    reason: string,
    detail: string,
  ): Message {
    this.o.log.warn({ topic, partition, offset: m.offset, reason, detail }, 'record sent to dead letters');
    return {
      key: m.key,
      value: m.value,
      headers: {
        'tw-reason': reason,
        'tw-detail': detail.slice(0, 1000),
        'tw-source': `${topic}/${partition}/${m.offset}`,
        'tw-stage': 'processor',
      },
    };
  }
}

const messageSize = (m: Message): number => {
  const len = (v: Buffer | string | null | undefined) =>
    v === null || v === undefined ? 0 : typeof v === 'string' ? v.length * 3 : v.length;
  let headers = 0;
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    headers += k.length + (Array.isArray(v) ? v.reduce((n, x) => n + len(x), 0) : len(v));
  }
  return RECORD_OVERHEAD + len(m.key) + len(m.value) + headers;
};

/** A task whose transaction failed holds state ahead of what is committed: it must not go on. */
const throwIfFailed = (task: PartitionTask): void => {
  if (task.failed !== undefined) throw task.failed;
};

const alertMessage = (alert: Alert): Message => ({ key: alert.userId, value: encodeAlert(alert) });
