// The exactly-once stream processor. One task per assigned input partition owns that
// partition's user state and a transactional producer with the id `<prefix>-<partition>`.
// For each fetched batch, the alerts it raised, the changed users' state (to the compacted
// changelog) and the consumed offsets commit in one Kafka transaction. A task that is newly
// assigned first fences the previous owner (InitProducerId), then restores its state from the
// changelog. Any failure drops the task's state: the next owner (or this process, after
// kafkajs restarts the consumer) restores it from what was committed.
import type { Alert } from '@tradewatch/shared/alerts';
import { TradewatchError } from '@tradewatch/shared/errors';
import { encodeAlert } from '@tradewatch/shared/alerts';
import { decodeEvent } from '@tradewatch/shared/events';
import {
  classifyKafkaError,
  createTransactionalProducer,
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
import { encodeUserState } from './user-state-codec.ts';
import { UserStateStore } from './user-state-store.ts';
import type { ProcessorStats } from './processor-stats.ts';

export interface StreamProcessorOptions {
  kafka: Kafka;
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
  now?: () => number;
}

interface PartitionTask {
  partition: number;
  producer: Producer;
  store: UserStateStore;
  ready: Promise<void>;
}

export class StreamProcessor {
  private readonly o: StreamProcessorOptions;
  private readonly tasks = new Map<number, PartitionTask>();
  private readonly ips = new IpInterner();
  private readonly detector: LargeTradeDetector;
  private lastMemberId: string | undefined;
  private readonly now: () => number;

  constructor(options: StreamProcessorOptions) {
    this.o = options;
    this.detector = new LargeTradeDetector(options.rule);
    this.now = options.now ?? Date.now;
  }

  get ownedPartitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  usersHeld(): number {
    let n = 0;
    for (const t of this.tasks.values()) n += t.store.size;
    return n;
  }

  async start(): Promise<void> {
    const { consumer } = this.o;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.o.eventsTopic] ?? []);
      // Keep a task's state across a rebalance only if this member kept its identity: a member
      // that was expelled and rejoined cannot know who processed its partitions meanwhile.
      // (Even then fencing protects the output: a stale task's next commit fails as fenced.)
      const sameMember = this.lastMemberId === payload.memberId;
      this.lastMemberId = payload.memberId;
      for (const partition of [...this.tasks.keys()]) {
        if (!sameMember || !assigned.has(partition)) void this.dropTask(partition, 'revoked');
      }
      const partitions = [...assigned].sort((a, b) => a - b);
      this.o.log.info({ memberId: payload.memberId, partitions }, 'partitions assigned');
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.o.eventsTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.processBatch(payload),
    });
  }

  async stop(): Promise<void> {
    await this.o.consumer.disconnect();
    await Promise.all([...this.tasks.keys()].map((p) => this.dropTask(p, 'shutdown')));
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
      task = { partition, producer, store, ready: Promise.resolve() };
      task.ready = this.initTask(task);
      this.tasks.set(partition, task);
    }
    return task;
  }

  /** Fences the previous owner, commits a restore marker and restores the state up to it. */
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
    this.o.stats.restoring(task.partition, true);
    const records = await this.o.restorer.restore(task.partition, task.store, marker);
    this.o.stats.restoring(task.partition, false);
    const ms = this.now() - started;
    this.o.stats.restored(records, ms);
    this.o.log.info({ partition: task.partition, users: task.store.size, records, ms }, 'partition restored');
  }

  private dropTask(partition: number, reason: string): Promise<void> {
    const task = this.tasks.get(partition);
    if (task === undefined) return Promise.resolve();
    this.tasks.delete(partition);
    this.o.restorer.cancel(partition);
    this.o.log.info({ partition, reason }, 'partition task dropped');
    return task.ready
      .catch(() => undefined)
      .then(() => task.producer.disconnect())
      .catch((err: unknown) => this.o.log.warn({ err, partition }, 'producer disconnect failed'));
  }

  private async processBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const partition = batch.partition;
    const task = this.task(partition);
    try {
      await this.waitReady(task, heartbeat);
      if (!isRunning() || isStale() || this.tasks.get(partition) !== task) return;
      await this.runTransaction(task, batch.messages, batch.topic);
    } catch (err) {
      // The in-memory state may be ahead of what was committed: forget it, let kafkajs re-fetch
      // from the committed offset (retriable) or crash the process (not retriable).
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

  private async runTransaction(task: PartitionTask, messages: KafkaMessage[], topic: string): Promise<void> {
    const now = this.now();
    const alerts: Message[] = [];
    const deadLetters: Message[] = [];
    let events = 0;
    let duplicates = 0;
    for (const m of messages) {
      const decoded = decodeEvent(m.value);
      if (!decoded.ok) {
        deadLetters.push(this.deadLetter(m, topic, task.partition, decoded.reason, decoded.detail));
        continue;
      }
      const ev = decoded.event;
      if (m.key?.toString('utf8') !== ev.userId) {
        deadLetters.push(
          this.deadLetter(m, topic, task.partition, 'key_mismatch', 'record key is not the userId'),
        );
        continue;
      }
      events++;
      const outcome = this.detector.apply(task.store, ev, now);
      if (outcome.kind === 'duplicate') duplicates++;
      else if (outcome.alert !== undefined) alerts.push(alertMessage(outcome.alert));
    }
    const changelog: Message[] = task.store.takeDirty().map((slot) => ({
      key: task.store.userIdOf(slot),
      value: encodeUserState(task.store.snapshot(slot)),
      partition: task.partition,
    }));

    const last = messages[messages.length - 1]!;
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    const started = performance.now();
    const txn = await task.producer.transaction();
    try {
      const topicMessages = [
        { topic: this.o.alertsTopic, messages: alerts },
        { topic: this.o.changelogTopic, messages: changelog },
        { topic: this.o.deadLetterTopic, messages: deadLetters },
      ].filter((t) => t.messages.length > 0);
      if (topicMessages.length > 0) await txn.sendBatch({ topicMessages, acks: -1 });
      await txn.sendOffsets({
        consumerGroupId: this.o.groupId,
        topics: [{ topic, partitions: [{ partition: task.partition, offset: nextOffset }] }],
      });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
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

const alertMessage = (alert: Alert): Message => ({ key: alert.userId, value: encodeAlert(alert) });
