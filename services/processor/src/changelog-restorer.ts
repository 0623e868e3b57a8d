// Restores a partition's user state from the compacted changelog before the partition is
// processed. kafkajs cannot assign partitions by hand, so one long-lived consumer in a group of
// its own holds every changelog partition, all paused; a restore resumes one partition from its
// start and reads until it meets the restore marker that the new owner committed after fencing
// the previous owner. Everything before that marker is decided (committed or aborted), so the
// marker, not an offset, tells where the state ends.
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer } from '@tradewatch/shared/kafka';
import type { Logger } from '@tradewatch/shared/logger';
import type { UserStateStore } from './user-state-store.ts';

export const RESTORE_MARKER_KEY = '\u0000restore-marker';

interface PendingRestore {
  marker: string;
  store: UserStateStore;
  records: number;
  onProgress: ((records: number) => void) | undefined;
  resolve: (records: number) => void;
  reject: (err: Error) => void;
}

export class ChangelogRestorer {
  private readonly consumer: Consumer;
  private readonly admin: Admin;
  private readonly topic: string;
  private readonly log: Logger;
  private readonly pending = new Map<number, PendingRestore>();
  private joined: Promise<void> | undefined;

  constructor(consumer: Consumer, admin: Admin, topic: string, log: Logger) {
    this.consumer = consumer;
    this.admin = admin;
    this.topic = topic;
    this.log = log;
  }

  static markerValue(): string {
    return randomUUID();
  }

  async start(): Promise<void> {
    this.joined = new Promise((resolve) => {
      this.consumer.on(this.consumer.events.GROUP_JOIN, () => resolve());
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch, heartbeat }) => {
        const p = this.pending.get(batch.partition);
        if (p === undefined) {
          this.consumer.pause([{ topic: this.topic, partitions: [batch.partition] }]);
          return;
        }
        for (const m of batch.messages) {
          if (m.key === null) continue;
          // The marker key starts with a NUL byte, which no userId contains.
          if (m.key[0] === 0 && m.key.toString('utf8') === RESTORE_MARKER_KEY) {
            if (m.value?.toString() === p.marker) {
              this.pending.delete(batch.partition);
              this.consumer.pause([{ topic: this.topic, partitions: [batch.partition] }]);
              p.onProgress?.(p.records);
              p.resolve(p.records);
              return;
            }
            continue;
          }
          if (m.value === null) continue; // tombstones: no user is ever deleted today
          try {
            p.store.loadEncoded(m.key.toString('utf8'), m.value);
            p.records++;
          } catch (err) {
            this.pending.delete(batch.partition);
            p.reject(
              new Error(
                `changelog ${this.topic}[${batch.partition}]@${m.offset} unreadable: ${(err as Error).message}`,
              ),
            );
            return;
          }
        }
        p.onProgress?.(p.records);
        await heartbeat();
      },
    });
    this.consumer.pause([{ topic: this.topic }]);
    await this.joined;
  }

  /**
   * Loads every user of `partition` into `store`; resolves with the number of records read.
   * `onProgress` hears the records read so far after each fetched batch.
   */
  async restore(
    partition: number,
    store: UserStateStore,
    marker: string,
    onProgress?: (records: number) => void,
  ): Promise<number> {
    await this.joined;
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    const low = offsets.find((o) => o.partition === partition)?.low ?? '0';
    const done = new Promise<number>((resolve, reject) => {
      this.pending.set(partition, { marker, store, records: 0, onProgress, resolve, reject });
    });
    this.consumer.seek({ topic: this.topic, partition, offset: low });
    this.consumer.resume([{ topic: this.topic, partitions: [partition] }]);
    this.log.debug({ partition, from: low }, 'restore started');
    return done;
  }

  /** Stops a restore in progress, e.g. when the partition was revoked. */
  cancel(partition: number): void {
    const p = this.pending.get(partition);
    if (p === undefined) return;
    this.pending.delete(partition);
    this.consumer.pause([{ topic: this.topic, partitions: [partition] }]);
    p.reject(new Error(`restore of partition ${partition} cancelled`));
  }

  async stop(): Promise<void> {
    for (const partition of [...this.pending.keys()]) this.cancel(partition);
    await this.consumer.disconnect();
  }
}
