// An in-memory Kafka behind the port (shared/src/kafka-port.ts), for the processor's unit tests:
// partitions are logs whose transactional records land when sent and become visible when their
// transaction commits (a reader stops at the first record of an open transaction — the last
// stable offset — and skips aborted ones, as read_committed does), the group has a generation that
// a transaction's offsets must match (KIP-447), and transactional ids have epochs (a newer init
// fences an older producer).
// Failures are injected by the test. Every class implements the port's interface; no casts.
import { setTimeout as sleep } from 'node:timers/promises';
import { TradewatchError } from '@tradewatch/shared/errors';
import {
  tpKey,
  type ConsumedRecord,
  type GroupConsumer,
  type GroupConsumerHandlers,
  type GroupMetadata,
  type KafkaAdmin,
  type OutgoingRecord,
  type PartitionBaseOffset,
  type PartitionReader,
  type Producer,
  type RecordBatch,
  type TopicPartition,
  type TopicPartitionOffset,
  type TransactionalProducer,
  type Watermarks,
} from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';

const toBuffer = (v: string | Buffer | null): Buffer | null =>
  v === null ? null : typeof v === 'string' ? Buffer.from(v) : v;

interface Entry {
  record: ConsumedRecord;
  /** The transaction that wrote it (undefined: not transactional). */
  txn: number | undefined;
}

export class FakeBroker {
  readonly partitions = new Map<string, number>();
  private readonly logs = new Map<string, Entry[]>();
  /** Transactions by id: open, committed or aborted. */
  private readonly txns = new Map<number, 'open' | 'committed' | 'aborted'>();
  private nextTxn = 1;
  readonly committed = new Map<string, Map<string, number>>();
  /** The group's generation: offsets of another generation are refused. */
  generation = 1;
  memberId = 'member-1';
  private readonly epochs = new Map<string, number>();
  /** Commits (counted from 1) that fail as if the network had. */
  failCommits = new Set<number>();
  commits = 0;
  /** Transactions sending or committing right now. */
  open = 0;

  createTopic(topic: string, partitions: number): void {
    this.partitions.set(topic, partitions);
    for (let p = 0; p < partitions; p++) this.logs.set(tpKey({ topic, partition: p }), []);
  }

  private entries(tp: TopicPartition): Entry[] {
    const log = this.logs.get(tpKey(tp));
    if (log === undefined) throw new Error(`no partition ${tp.topic}/${tp.partition}`);
    return log;
  }

  /** Where read_committed readers stop: the first record of an open transaction, or the end. */
  stableEnd(tp: TopicPartition): number {
    const log = this.entries(tp);
    const open = log.findIndex((e) => e.txn !== undefined && this.txns.get(e.txn) === 'open');
    return open < 0 ? log.length : open;
  }

  /** Up to `max` visible records from `offset`, and where the next read starts. */
  read(tp: TopicPartition, offset: number, max: number): { records: ConsumedRecord[]; nextOffset: number } {
    const log = this.entries(tp);
    const end = this.stableEnd(tp);
    const records: ConsumedRecord[] = [];
    let at = offset;
    for (; at < end && records.length < max; at++) {
      const e = log[at]!;
      if (e.txn === undefined || this.txns.get(e.txn) === 'committed') records.push(e.record);
    }
    return { records, nextOffset: at };
  }

  beginTxn(): number {
    const id = this.nextTxn++;
    this.txns.set(id, 'open');
    return id;
  }

  endTxn(id: number, commit: boolean): void {
    this.txns.set(id, commit ? 'committed' : 'aborted');
  }

  append(records: readonly OutgoingRecord[], txn?: number): PartitionBaseOffset[] {
    const bases = new Map<string, PartitionBaseOffset>();
    for (const r of records) {
      const partition =
        r.partition ??
        (r.key === null ? 0 : partitionForKey(r.key.toString(), this.partitions.get(r.topic) ?? 1));
      const log = this.entries({ topic: r.topic, partition });
      const k = tpKey({ topic: r.topic, partition });
      if (!bases.has(k)) bases.set(k, { topic: r.topic, partition, baseOffset: log.length });
      const headers = new Map(Object.entries(r.headers ?? {}).map(([n, v]) => [n, toBuffer(v)!]));
      const record = {
        offset: log.length,
        timestamp: 0,
        key: toBuffer(r.key),
        value: toBuffer(r.value),
        headers,
      };
      log.push({ record, txn });
    }
    return [...bases.values()];
  }

  /** Committed records of `topic` in every partition, oldest first per partition. */
  records(topic: string): ConsumedRecord[] {
    const n = this.partitions.get(topic) ?? 0;
    return Array.from(
      { length: n },
      (_, partition) => this.read({ topic, partition }, 0, Infinity).records,
    ).flat();
  }

  initEpoch(transactionalId: string): number {
    const epoch = (this.epochs.get(transactionalId) ?? -1) + 1;
    this.epochs.set(transactionalId, epoch);
    return epoch;
  }

  epochOf(transactionalId: string): number {
    return this.epochs.get(transactionalId) ?? -1;
  }

  /** The group moves to a new generation (a rebalance); `expel` also forgets the member. */
  rebalance(expel = false): void {
    this.generation++;
    if (expel) this.memberId = `member-${this.generation}`;
  }

  admin(): Pick<KafkaAdmin, 'watermarks' | 'committedOffsets'> {
    return {
      watermarks: (topic) => {
        const n = this.partitions.get(topic) ?? 0;
        const marks: Watermarks[] = Array.from({ length: n }, (_, partition) => ({
          partition,
          low: 0,
          high: this.stableEnd({ topic, partition }),
        }));
        return Promise.resolve(marks);
      },
      committedOffsets: (groupId, topic) => {
        const out = new Map<number, number>();
        for (const [k, offset] of this.committed.get(groupId) ?? []) {
          const [t, p] = k.split('\u0000');
          if (t === topic) out.set(Number(p), offset);
        }
        return Promise.resolve(out);
      },
    };
  }
}

export class FakeProducer implements Producer {
  private readonly broker: FakeBroker;
  constructor(broker: FakeBroker) {
    this.broker = broker;
  }
  send(records: readonly OutgoingRecord[]): Promise<PartitionBaseOffset[]> {
    return Promise.resolve(this.broker.append(records));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const fenced = (what: string) => new TradewatchError('KAFKA_FENCED', `producer fenced: ${what}`);

export class FakeTransactionalProducer implements TransactionalProducer {
  readonly transactionalId: string;
  private readonly broker: FakeBroker;
  private epoch = -1;
  private txn: number | undefined;
  private offsets: { group: string; offsets: TopicPartitionOffset[] }[] = [];
  closed = false;

  constructor(broker: FakeBroker, transactionalId: string) {
    this.broker = broker;
    this.transactionalId = transactionalId;
  }

  private check(): void {
    if (this.closed) throw new TradewatchError('KAFKA_ERROR', 'producer closed');
    if (this.broker.epochOf(this.transactionalId) !== this.epoch) throw fenced(this.transactionalId);
  }

  init(): Promise<void> {
    this.epoch = this.broker.initEpoch(this.transactionalId);
    return Promise.resolve();
  }

  begin(): Promise<void> {
    this.check();
    if (this.txn !== undefined) throw new TradewatchError('KAFKA_ERROR', 'a transaction is open');
    this.txn = this.broker.beginTxn();
    this.offsets = [];
    this.broker.open++;
    return Promise.resolve();
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.check();
    const txn = this.txn;
    if (txn === undefined) throw new TradewatchError('KAFKA_NO_TRANSACTION', 'no transaction');
    await sleep(1);
    this.broker.append(records, txn);
  }

  sendOffsets(offsets: readonly TopicPartitionOffset[], group: GroupMetadata): Promise<void> {
    this.check();
    if (group.memberId !== this.broker.memberId) {
      return Promise.reject(new TradewatchError('KAFKA_GROUP_FENCED', `member gone (UNKNOWN_MEMBER_ID)`));
    }
    if (group.generationId !== this.broker.generation) {
      return Promise.reject(
        new TradewatchError('KAFKA_GROUP_FENCED', `generation ${group.generationId} (ILLEGAL_GENERATION)`),
      );
    }
    this.offsets.push({ group: group.groupId, offsets: [...offsets] });
    return Promise.resolve();
  }

  async commit(): Promise<void> {
    const txn = this.txn;
    this.txn = undefined;
    if (txn === undefined) return;
    await sleep(3);
    this.broker.open--;
    const n = ++this.broker.commits;
    if (this.broker.epochOf(this.transactionalId) !== this.epoch || this.broker.failCommits.has(n)) {
      this.broker.endTxn(txn, false);
      this.check();
      throw new TradewatchError('KAFKA_ERROR', `injected failure of commit ${n}`, { retriable: true });
    }
    this.broker.endTxn(txn, true);
    for (const { group, offsets } of this.offsets) {
      let g = this.broker.committed.get(group);
      if (g === undefined) this.broker.committed.set(group, (g = new Map<string, number>()));
      for (const o of offsets) g.set(tpKey(o), o.offset);
    }
  }

  abort(): Promise<void> {
    if (this.txn !== undefined) {
      this.broker.open--;
      this.broker.endTxn(this.txn, false);
    }
    this.txn = undefined;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.abort();
  }
}

/** Reads committed records from positions; the test pumps it. */
class Positions {
  readonly at = new Map<string, { tp: TopicPartition; offset: number; epoch: number }>();
  readonly paused = new Set<string>();
  set(tp: TopicPartition, offset: number): void {
    const p = this.at.get(tpKey(tp));
    if (p === undefined) this.at.set(tpKey(tp), { tp, offset, epoch: 0 });
    else {
      p.offset = offset;
      p.epoch++;
    }
  }
}

const rejectNever = (): Promise<never> => {
  const p = new Promise<never>(() => undefined);
  return p;
};

export class FakePartitionReader implements PartitionReader {
  private readonly broker: FakeBroker;
  private readonly positions = new Positions();
  private onRecords: ((b: RecordBatch) => Promise<void> | void) | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  readonly failed: Promise<never> = rejectNever();

  constructor(broker: FakeBroker) {
    this.broker = broker;
  }

  assign(tp: TopicPartition, offset: number): void {
    this.positions.set(tp, offset);
  }

  unassign(tp: TopicPartition): void {
    this.positions.at.delete(tpKey(tp));
  }

  start(onRecords: (batch: RecordBatch) => Promise<void> | void): void {
    this.onRecords = onRecords;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        let any = false;
        for (const p of [...this.positions.at.values()]) {
          const { records, nextOffset } = this.broker.read(p.tp, p.offset, 100);
          if (nextOffset === p.offset) continue;
          any = true;
          p.offset = nextOffset;
          await this.onRecords?.({
            topic: p.tp.topic,
            partition: p.tp.partition,
            records,
            nextOffset,
            highWatermark: this.broker.stableEnd(p.tp),
          });
        }
        await sleep(any ? 0 : 2);
      }
    })();
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * A group member whose assignment the test sets (`assign`, `revoke`) and whose fetches the test
 * drives (`pump`): each round hands every positioned, unpaused partition its next records.
 */
export class FakeGroupConsumer implements GroupConsumer {
  private readonly broker: FakeBroker;
  private readonly groupId: string;
  private readonly positions = new Positions();
  private owned: TopicPartition[] = [];
  private handlers: GroupConsumerHandlers | undefined;
  readonly failed: Promise<never> = rejectNever();
  batchSize = 40;
  closedWith: { leaveGroup?: boolean } | undefined;

  constructor(broker: FakeBroker, groupId: string) {
    this.broker = broker;
    this.groupId = groupId;
  }

  start(handlers: GroupConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    return Promise.resolve();
  }

  assign(tps: TopicPartition[]): void {
    this.owned.push(...tps);
    this.handlers?.onAssigned(tps);
  }

  revoke(tps: TopicPartition[], lost = false): void {
    const gone = new Set(tps.map(tpKey));
    this.owned = this.owned.filter((tp) => !gone.has(tpKey(tp)));
    for (const k of gone) this.positions.at.delete(k);
    this.handlers?.onRevoked(tps, lost);
  }

  groupMetadata(): GroupMetadata {
    return {
      groupId: this.groupId,
      memberId: this.broker.memberId,
      generationId: this.broker.generation,
      groupInstanceId: null,
    };
  }

  assignment(): TopicPartition[] {
    return [...this.owned];
  }

  seek(tp: TopicPartition, offset: number): void {
    if (this.owned.some((o) => tpKey(o) === tpKey(tp))) this.positions.set(tp, offset);
  }

  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.positions.paused.add(tpKey(tp));
  }

  resume(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.positions.paused.delete(tpKey(tp));
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  /** One fetch round; resolves with the records handed out. */
  async pump(): Promise<number> {
    let n = 0;
    const deliveries: Promise<void>[] = [];
    for (const p of [...this.positions.at.values()]) {
      if (this.positions.paused.has(tpKey(p.tp))) continue;
      const { records, nextOffset } = this.broker.read(p.tp, p.offset, this.batchSize);
      if (nextOffset === p.offset) continue;
      n += records.length;
      p.offset = nextOffset;
      const highWatermark = this.broker.stableEnd(p.tp);
      const batch = { topic: p.tp.topic, partition: p.tp.partition, records, nextOffset, highWatermark };
      deliveries.push(Promise.resolve(this.handlers?.onRecords(batch)));
    }
    await Promise.all(deliveries);
    return n;
  }

  close(opts: { leaveGroup?: boolean } = {}): Promise<void> {
    this.closedWith = opts;
    this.owned = [];
    this.positions.at.clear();
    return Promise.resolve();
  }
}
