// Reading topics from chosen offsets to their end and on, committed records only, without
// joining a shared consumer group: what a live view needs (the fraud desk's alert feed). kafkajs
// cannot assign partitions by hand, so each tail is a consumer in a group of its own that seeks
// every partition to its start once it runs; records below a partition's start (fetched before
// the seek took effect) are dropped here, so callers see each partition from exactly its start,
// in offset order.
import { randomUUID } from 'node:crypto';
import { classifyKafkaError, createConsumer, type Admin, type Consumer, type Kafka } from './kafka.ts';
import type { Logger } from './logger.ts';

export interface Watermarks {
  partition: number;
  /** The log start offset. */
  low: number;
  /** The offset the next record will get (for a transactional topic: past the last marker). */
  high: number;
}

export const topicWatermarks = async (admin: Admin, topic: string): Promise<Watermarks[]> => {
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  } catch (err) {
    throw classifyKafkaError(err);
  }
};

export interface TailRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
}

export interface TailSpec {
  topic: string;
  /** Where to start each partition, given its watermarks. */
  startAt: (w: Watermarks) => number;
}

export interface TopicTail {
  /** The offset each partition started at, by topic. */
  readonly starts: ReadonlyMap<string, readonly number[]>;
  stop(): Promise<void>;
}

/**
 * Starts reading `specs` (read_committed) and calls `onRecords` with each fetched batch, in
 * offset order within a partition. Resolves once the consumer runs, with the start offsets.
 */
export const tailTopics = async (opts: {
  kafka: Kafka;
  admin: Admin;
  log: Logger;
  groupPrefix: string;
  specs: readonly TailSpec[];
  onRecords: (records: TailRecord[]) => void;
  maxWaitMs?: number;
}): Promise<TopicTail> => {
  const starts = new Map<string, number[]>();
  for (const spec of opts.specs) {
    const marks = await topicWatermarks(opts.admin, spec.topic);
    starts.set(
      spec.topic,
      marks.map((w) => Math.min(w.high, Math.max(w.low, spec.startAt(w)))),
    );
  }
  const consumer: Consumer = createConsumer(opts.kafka, {
    groupId: `${opts.groupPrefix}.${randomUUID().slice(0, 12)}`,
    readUncommitted: false,
    maxWaitTimeInMs: opts.maxWaitMs ?? 100,
    sessionTimeout: 30000,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    opts.log.warn({ err: payload.error, restart: payload.restart }, 'tail consumer crashed');
  });
  await consumer.connect();
  for (const spec of opts.specs) await consumer.subscribe({ topic: spec.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: ({ batch }) => {
      const from = starts.get(batch.topic)?.[batch.partition] ?? 0;
      const records: TailRecord[] = [];
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        if (offset < from) continue;
        records.push({
          topic: batch.topic,
          partition: batch.partition,
          offset,
          key: m.key === null ? null : m.key.toString(),
          value: m.value,
        });
      }
      if (records.length > 0) opts.onRecords(records);
      return Promise.resolve();
    },
  });
  for (const [topic, offsets] of starts) {
    offsets.forEach((offset, partition) => consumer.seek({ topic, partition, offset: String(offset) }));
  }
  return {
    starts,
    stop: async () => {
      await consumer.disconnect();
    },
  };
};
