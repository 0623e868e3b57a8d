// Fetching is ours (Consumer.fetch, the library's raw Fetch): one loop per consumer fetches every
// assigned, unpaused partition from its own position, so that a partition can be paused, resumed
// and moved (seek) on its own, which the library's streams cannot do; read_committed results are
// filtered again with the Java client's rule (kafka-record-filter.ts) because the library's
// filter leaks aborted records in two cases. The group consumer and the partition reader each
// run one.
import { type Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import { committedRecords, type AbortedTransaction, type FetchedBatch } from '../kafka-record-filter.ts';
import { tpKey, type PartitionReaderOptions, type RecordBatch, type TopicPartition } from '../kafka-port.ts';
import { walkErrors, classifyKafkaError } from './errors.ts';
import { sleep } from './retry.ts';

interface Position {
  tp: TopicPartition;
  offset: number;
  paused: boolean;
  /** Bumped by every seek: a batch fetched from an older position is dropped. */
  epoch: number;
}

interface FetchResponsePartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  records: FetchedBatch[] | null;
}

interface FetchResponse {
  responses: { topicId: string; partitions: FetchResponsePartition[] }[];
}

const OFFSET_OUT_OF_RANGE = 1;

/**
 * The fetch loop of one consumer: every assigned, unpaused partition is fetched from its
 * position, one request per leader; each partition's batch is handed on and the next fetch
 * waits until every handler of the previous one returned.
 */
/** What one node answered a fetch (undefined: nothing usable), with what it was asked. */
interface NodeAnswer {
  asked: { p: Position; offset: number; epoch: number }[];
  response: FetchResponse | undefined;
  /** Why there is no response, when the fetch failed. */
  error?: unknown;
}

/** How much longer than its max wait a fetch may take before the round goes on without it, ms. */
const SLOW_FETCH_MS = 5000;

/** A batch handler's own failure, carried out of the fetch loop's retrying of broker failures. */
class HandlerFailure extends Error {
  constructor(cause: unknown) {
    super('a batch handler failed', { cause });
  }
}

export class FetchLoop {
  private readonly consumer: Consumer;
  private readonly positions = new Map<string, Position>();
  /** Paused partitions, including ones not positioned yet. */
  private readonly paused = new Set<string>();
  private readonly opts: Required<PartitionReaderOptions>;
  private readonly onReset: (tp: TopicPartition) => Promise<number>;
  private running = false;
  private wake: (() => void) | undefined;
  private done: Promise<void> | undefined;
  private failures = 0;
  /**
   * Fetches that outlasted their round's deadline (a broker that froze answers nothing until its
   * request timeout), by node: its partitions wait for that answer, the others go on.
   */
  private readonly slow = new Map<number, { answer: Promise<NodeAnswer>; settled: boolean }>();

  constructor(
    consumer: Consumer,
    opts: PartitionReaderOptions,
    onReset: (tp: TopicPartition) => Promise<number>,
  ) {
    this.consumer = consumer;
    this.opts = {
      maxWaitMs: opts.maxWaitMs ?? 100,
      maxBytesPerPartition: opts.maxBytesPerPartition ?? 1048576,
      maxBytes: opts.maxBytes ?? 52428800,
    };
    this.onReset = onReset;
  }

  set(tp: TopicPartition, offset: number): void {
    const key = tpKey(tp);
    const p = this.positions.get(key);
    if (p === undefined) {
      this.positions.set(key, {
        tp: { topic: tp.topic, partition: tp.partition },
        offset,
        paused: this.paused.has(key),
        epoch: 0,
      });
      this.consumer.topics.track(tp.topic);
    } else {
      p.offset = offset;
      p.epoch++;
    }
    this.wake?.();
  }

  has(tp: TopicPartition): boolean {
    return this.positions.has(tpKey(tp));
  }

  remove(tp: TopicPartition): void {
    this.paused.delete(tpKey(tp));
    if (this.positions.delete(tpKey(tp))) this.consumer.topics.untrack(tp.topic);
  }

  clear(): void {
    for (const p of [...this.positions.values()]) this.remove(p.tp);
  }

  pause(tp: TopicPartition, paused: boolean): void {
    if (paused) this.paused.add(tpKey(tp));
    else this.paused.delete(tpKey(tp));
    const p = this.positions.get(tpKey(tp));
    if (p === undefined) return;
    p.paused = paused;
    if (!paused) this.wake?.();
  }

  start(deliver: (batch: RecordBatch) => Promise<void> | void, fail: (err: unknown) => void): void {
    if (this.running) return;
    this.running = true;
    this.done = this.run(deliver).catch((err: unknown) => {
      this.running = false;
      fail(err);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.done;
  }

  private async run(deliver: (batch: RecordBatch) => Promise<void> | void): Promise<void> {
    // One fetch ahead: the next round's Fetch is on the wire while the handler works on this
    // round's batches, and its answer is accepted only once they are done (in order, and after any
    // pause, seek or revocation the handler made). At most one round is held beyond the handler's.
    let delivering: Promise<void> = Promise.resolve();
    let deliveryFailure: { err: unknown } | undefined;
    const settle = async (): Promise<void> => {
      await delivering;
      // A handler's failure is its own, not the broker's: it ends the loop, never retried here.
      if (deliveryFailure !== undefined) throw new HandlerFailure(deliveryFailure.err);
    };
    let refresh = false;
    try {
      while (this.running) {
        const wanted = [...this.positions.values()].filter((p) => !p.paused);
        if (wanted.length === 0) {
          await settle();
          if ([...this.positions.values()].some((p) => !p.paused)) continue;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, 1000).unref();
          });
          this.wake = undefined;
          continue;
        }
        try {
          const topics = [...new Set(wanted.map((p) => p.tp.topic))];
          const metadata = await this.consumer.metadata({ topics, forceUpdate: refresh });
          refresh = false;
          // Answers of slow fetches that came since: accepted in this round, if they still apply.
          const late: Promise<NodeAnswer>[] = [];
          for (const [node, s] of this.slow) {
            if (!s.settled) continue;
            this.slow.delete(node);
            late.push(s.answer);
          }
          const byNode = new Map<number, Position[]>();
          for (const p of wanted) {
            const leader = metadata.topics.get(p.tp.topic)?.partitions[p.tp.partition]?.leader;
            if (leader === undefined || leader < 0) {
              refresh = true;
              continue;
            }
            if (this.slow.has(leader)) continue;
            let list = byNode.get(leader);
            if (list === undefined) byNode.set(leader, (list = []));
            list.push(p);
          }
          const idToTopic = new Map<string, string>();
          for (const t of topics) {
            const id = metadata.topics.get(t)?.id;
            if (id !== undefined) idToTopic.set(id, t);
          }
          const answers = await Promise.all([
            ...late,
            ...[...byNode].map(async ([node, list]): Promise<NodeAnswer> => {
              const asked = list.map((p) => ({ p, offset: p.offset, epoch: p.epoch }));
              const answer = this.fetchNode(node, asked, metadata.topics).then(
                (response): NodeAnswer => ({ asked, response }),
                (error: unknown): NodeAnswer => ({ asked, response: undefined, error }),
              );
              let timer: NodeJS.Timeout | undefined;
              const deadline = new Promise<undefined>((resolve) => {
                timer = setTimeout(() => resolve(undefined), this.opts.maxWaitMs + SLOW_FETCH_MS);
              });
              const first = await Promise.race([answer, deadline]);
              clearTimeout(timer);
              if (first !== undefined) return first;
              // Not answered in time: the other nodes' partitions go on without it, and this
              // node is not asked again until it answers (or its request times out).
              const slow = { answer, settled: false };
              void answer.then(() => {
                slow.settled = true;
                this.wake?.();
              });
              this.slow.set(node, slow);
              refresh = true;
              return { asked, response: undefined };
            }),
          ]);
          await settle();
          const deliveries: Promise<void>[] = [];
          let failed: unknown;
          for (const { asked, response, error } of answers) {
            if (response === undefined) {
              refresh = true;
              failed ??= error;
              continue;
            }
            for (const t of response.responses) {
              const topic = idToTopic.get(t.topicId) ?? t.topicId;
              for (const part of t.partitions) {
                const a = asked.find(
                  (x) => x.p.tp.topic === topic && x.p.tp.partition === part.partitionIndex,
                );
                if (a === undefined) continue;
                const batch = await this.accept(a, part);
                if (batch === undefined) continue;
                // Called now, in order; a handler that throws rejects its own delivery.
                deliveries.push((async () => deliver(batch))());
              }
            }
          }
          delivering = Promise.all(deliveries).then(
            () => undefined,
            (err: unknown) => {
              deliveryFailure ??= { err };
            },
          );
          // A node that failed, with nothing to deliver from the others: back off before the next round.
          if (failed !== undefined && deliveries.length === 0)
            throw failed instanceof Error ? failed : new Error(JSON.stringify(failed));
          if (failed === undefined) this.failures = 0;
        } catch (err) {
          if (err instanceof HandlerFailure) throw err.cause;
          if (!this.running) return;
          // Fetching changes nothing: whatever failed (a broker paused or gone, leadership moving)
          // is tried again, with fresh metadata, for about two minutes before it counts as fatal.
          const e = classifyKafkaError(err, 'fetching');
          if (++this.failures > 60) throw e;
          refresh = true;
          await sleep(Math.min(100 * 2 ** this.failures, 2000));
        }
      }
    } finally {
      await delivering;
    }
    if (deliveryFailure !== undefined) throw deliveryFailure.err;
  }

  /** One Fetch to `node`; a response with partition errors still carries the other partitions. */
  private async fetchNode(
    node: number,
    asked: { p: Position; offset: number }[],
    topics: Map<string, { id: string }>,
  ): Promise<FetchResponse | undefined> {
    const byTopic = new Map<string, { p: Position; offset: number }[]>();
    for (const a of asked) {
      let list = byTopic.get(a.p.tp.topic);
      if (list === undefined) byTopic.set(a.p.tp.topic, (list = []));
      list.push(a);
    }
    const request = [...byTopic].map(([topic, list]) => ({
      topicId: topics.get(topic)!.id,
      partitions: list.map((a) => ({
        partition: a.p.tp.partition,
        fetchOffset: BigInt(a.offset),
        partitionMaxBytes: this.opts.maxBytesPerPartition,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      })),
    }));
    try {
      return (await this.consumer.fetch({
        node,
        topics: request,
        maxWaitTime: this.opts.maxWaitMs,
        maxBytes: this.opts.maxBytes,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      })) as unknown as FetchResponse;
    } catch (err) {
      let response: FetchResponse | undefined;
      walkErrors(err, (e) => {
        if (response === undefined && e.response !== undefined && typeof e.response === 'object') {
          const r = e.response as Partial<FetchResponse>;
          if (Array.isArray(r.responses)) response = r as FetchResponse;
        }
      });
      if (response === undefined) throw err;
      return response;
    }
  }

  private async accept(
    a: { p: Position; offset: number; epoch: number },
    part: FetchResponsePartition,
  ): Promise<RecordBatch | undefined> {
    const { p } = a;
    // Moved, paused, dropped or fetched again elsewhere while the fetch was out: its result no
    // longer applies.
    if (this.positions.get(tpKey(p.tp)) !== p || p.epoch !== a.epoch || p.paused || p.offset !== a.offset)
      return undefined;
    if (part.errorCode === OFFSET_OUT_OF_RANGE) {
      const offset = await this.onReset(p.tp);
      if (this.positions.get(tpKey(p.tp)) === p && p.epoch === a.epoch) p.offset = offset;
      return undefined;
    }
    if (part.errorCode !== 0) return undefined; // leadership moved: the next round refreshes metadata
    const { records, nextOffset } = committedRecords(part.records ?? [], part.abortedTransactions, a.offset);
    if (nextOffset === a.offset && records.length === 0) return undefined;
    p.offset = nextOffset;
    return {
      topic: p.tp.topic,
      partition: p.tp.partition,
      records,
      nextOffset,
      highWatermark: Number(part.highWatermark),
    };
  }
}

export const listOffset = async (consumer: Consumer, tp: TopicPartition, which: 'earliest' | 'latest') => {
  const offsets = await consumer.listOffsets({
    topics: [tp.topic],
    partitions: { [tp.topic]: [tp.partition] },
    timestamp: which === 'earliest' ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  return Number(offsets.get(tp.topic)?.[tp.partition] ?? 0n);
};

export const deferredFailure = (): { failed: Promise<never>; fail: (err: unknown) => void } => {
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { failed, fail };
};
