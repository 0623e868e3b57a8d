// Reading topics from chosen offsets to their end and on, committed records only, without
// joining a consumer group: what a live view needs (the fraud desk's alert feed). A partition
// reader of the Kafka port starts each partition exactly at its start offset, so callers see each
// partition from there, in offset order.
import type { KafkaClient } from './kafka-port.ts';
import type { Logger } from './logger.ts';

export interface TailRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
}

export interface TailSpec {
  topic: string;
  /** Where each partition starts, by partition (the caller knows the watermarks it chose from). */
  from: readonly number[];
}

export interface TopicTail {
  stop(): Promise<void>;
}

/**
 * Starts reading `specs` (read_committed) and calls `onRecords` with each fetched batch, in
 * offset order within a partition.
 */
export const tailTopics = (opts: {
  kafka: KafkaClient;
  log: Logger;
  specs: readonly TailSpec[];
  onRecords: (records: TailRecord[]) => void;
  maxWaitMs?: number;
}): TopicTail => {
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
  for (const { topic, from } of opts.specs) {
    from.forEach((offset, partition) => reader.assign({ topic, partition }, offset));
  }
  return { stop: () => reader.close() };
};
