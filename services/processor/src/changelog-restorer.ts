// Restores a partition's user state from the compacted changelog before the partition is
// processed. A restore first writes a restore marker (a record with a random value) to the
// changelog partition, then reads the partition from its start (read_committed) until it meets
// that marker. A read_committed reader sees a record only once every transaction that began
// before it is decided, so everything before the marker is committed or aborted: the marker,
// not an offset guess, says where the state ends. The previous owner's last transaction is part
// of it or not at all, because its offsets were either accepted before this member was given the
// partition (and so its records are all before the marker) or refused (and it aborted).
import { randomUUID } from 'node:crypto';
import { TradewatchError } from '@tradewatch/shared/errors';
import type { KafkaAdmin, PartitionReader, Producer, RecordBatch } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { UserStateStore } from '@tradewatch/shared/user-state-store';

export const RESTORE_MARKER_KEY = '\u0000restore-marker';

interface PendingRestore {
  marker: string;
  store: UserStateStore;
  records: number;
  onProgress: ((records: number) => void) | undefined;
  resolve: (records: number) => void;
  reject: (err: Error) => void;
}

export interface ChangelogRestorerOptions {
  reader: PartitionReader;
  /** Writes the markers (an idempotent producer: a retry is not a second marker). */
  markers: Producer;
  admin: Pick<KafkaAdmin, 'watermarks'>;
  topic: string;
  log: Logger;
}

export class ChangelogRestorer {
  private readonly o: ChangelogRestorerOptions;
  private readonly pending = new Map<number, PendingRestore>();

  constructor(o: ChangelogRestorerOptions) {
    this.o = o;
    o.reader.start((batch) => this.onBatch(batch));
    o.reader.failed.catch((err: unknown) => {
      for (const partition of [...this.pending.keys()]) this.fail(partition, err);
    });
  }

  static markerValue(): string {
    return randomUUID();
  }

  private onBatch(batch: RecordBatch): void {
    const p = this.pending.get(batch.partition);
    if (p === undefined) return;
    for (const r of batch.records) {
      if (r.key === null) continue;
      // The marker key starts with a NUL byte, which no userId contains.
      if (r.key[0] === 0 && r.key.toString('utf8') === RESTORE_MARKER_KEY) {
        if (r.value?.toString() === p.marker) {
          this.pending.delete(batch.partition);
          this.o.reader.unassign({ topic: this.o.topic, partition: batch.partition });
          p.onProgress?.(p.records);
          p.resolve(p.records);
          return;
        }
        continue;
      }
      if (r.value === null) continue; // tombstones: no user is ever deleted today
      try {
        p.store.loadEncoded(r.key.toString('utf8'), r.value);
        p.records++;
      } catch (err) {
        this.fail(
          batch.partition,
          new TradewatchError(
            'PROCESSOR_CHANGELOG_UNREADABLE',
            `changelog ${this.o.topic}[${batch.partition}]@${r.offset} unreadable: ${(err as Error).message}`,
          ),
        );
        return;
      }
    }
    p.onProgress?.(p.records);
  }

  private fail(partition: number, err: unknown): void {
    const p = this.pending.get(partition);
    if (p === undefined) return;
    this.pending.delete(partition);
    this.o.reader.unassign({ topic: this.o.topic, partition });
    p.reject(err instanceof Error ? err : new Error(String(err)));
  }

  /**
   * Loads every user of `partition` into `store`; resolves with the number of records read.
   * `onProgress` hears the records read so far after each fetched batch.
   */
  async restore(
    partition: number,
    store: UserStateStore,
    onProgress?: (records: number) => void,
  ): Promise<number> {
    if (this.pending.has(partition)) this.cancel(partition);
    const marker = ChangelogRestorer.markerValue();
    await this.o.markers.send([{ topic: this.o.topic, partition, key: RESTORE_MARKER_KEY, value: marker }]);
    const marks = await this.o.admin.watermarks(this.o.topic);
    const low = marks.find((w) => w.partition === partition)?.low ?? 0;
    const done = new Promise<number>((resolve, reject) => {
      this.pending.set(partition, { marker, store, records: 0, onProgress, resolve, reject });
    });
    this.o.reader.assign({ topic: this.o.topic, partition }, low);
    this.o.log.debug({ partition, from: low }, 'restore started');
    return done;
  }

  /** Stops a restore in progress, e.g. when the partition was revoked. */
  cancel(partition: number): void {
    this.fail(
      partition,
      new TradewatchError('PROCESSOR_RESTORE_CANCELLED', `restore of partition ${partition} cancelled`),
    );
  }

  async stop(): Promise<void> {
    for (const partition of [...this.pending.keys()]) this.cancel(partition);
    await this.o.reader.close();
  }
}
