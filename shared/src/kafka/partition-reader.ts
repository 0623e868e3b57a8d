// The partition reader: partitions read without a group, from offsets the caller assigns, on a
// fetch loop of its own (fetch-loop.ts).
import type { Consumer } from '@platformatic/kafka';
import type { PartitionReader, PartitionReaderOptions, RecordBatch, TopicPartition } from '../kafka-port.ts';
import type { PkKafkaClient } from './client.ts';
import { classifyKafkaError, wrap } from './errors.ts';
import { FetchLoop, listOffset, deferredFailure } from './fetch-loop.ts';
import { TurningConsumer } from './library-clients.ts';

export class PkPartitionReader implements PartitionReader {
  private readonly consumer: Consumer;
  private readonly loop: FetchLoop;
  readonly failed: Promise<never>;
  private readonly fail: (err: unknown) => void;

  constructor(client: PkKafkaClient, opts: PartitionReaderOptions) {
    const base = client.base('reader');
    // Never joins: the group id only satisfies the constructor.
    this.consumer = client.watched(new TurningConsumer({ ...base, groupId: `${base.clientId}-no-group` }));
    this.loop = new FetchLoop(this.consumer, opts, (tp) => listOffset(this.consumer, tp, 'earliest'));
    ({ failed: this.failed, fail: this.fail } = deferredFailure());
    // An 'error' event without a listener would throw: report it as the reader's failure.
    this.consumer.on('error', (err: unknown) => this.fail(classifyKafkaError(err, 'reading partitions')));
  }

  assign(tp: TopicPartition, offset: number): void {
    this.loop.set(tp, offset);
  }

  unassign(tp: TopicPartition): void {
    this.loop.remove(tp);
  }

  start(onRecords: (batch: RecordBatch) => Promise<void> | void): void {
    this.loop.start(onRecords, (err) => this.fail(classifyKafkaError(err, 'reading partitions')));
  }

  async close(): Promise<void> {
    await this.loop.stop();
    await wrap('closing a reader', () => this.consumer.close(true));
  }
}
