// Reading topics from chosen offsets to their end and on, committed records only, without
// joining a consumer group: what a live view needs (the fraud desk's alert feed). A partition
// reader of the Kafka port starts each partition exactly at its start offset, so callers see each
// partition from there, in offset order.
import type { KafkaAdmin, KafkaClient, Watermarks } from './kafka-port.ts';
import type { Logger } from './logger.ts';

export type { Watermarks };

export const topicWatermarks = (admin: KafkaAdmin, topic: string): Promise<Watermarks[]> =>
  admin.watermarks(topic);

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
 * offset order within a partition. Resolves once reading started, with the start offsets.
 */
export const tailTopics = async (opts: {
  kafka: KafkaClient;
  admin: KafkaAdmin;
  log: Logger;
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
  const reader = opts.kafka.partitionReader({ maxWaitMs: opts.maxWaitMs ?? 100 });
  reader.failed.catch((err: unknown) => opts.log.error({ err }, 'tail reader failed'));
  reader.start((batch) => {
    if (batch.records.length === 0) return;
    opts.onRecords(
      batch.records.map((r) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: r.offset,
        key: r.key === null ? null : r.key.toString('utf8'),
        value: r.value,
      })),
    );
  });
  for (const [topic, offsets] of starts) {
    offsets.forEach((offset, partition) => reader.assign({ topic, partition }, offset));
  }
  return { starts, stop: () => reader.close() };
};
