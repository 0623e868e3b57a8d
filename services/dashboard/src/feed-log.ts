// The feed's memory: the committed alerts and labels it has read, in the order it read them, up
// to a bounded count. It knows, per partition, from which offset on it holds everything
// (`firstHeld`): a browser whose cursor is at or past that offset on every partition can be
// replayed exactly; one further behind must reload its history. Pure: no I/O.
import type { FeedCursor, FeedStream } from './feed-cursor.ts';

export interface FeedEntry {
  stream: FeedStream;
  partition: number;
  offset: number;
  /** The record's decoded value, as the stream sends it (an alert's labels are added at send time). */
  alertId: string;
  /** The alert's user; undefined for a label. */
  userId: string | undefined;
  json: string;
}

export class FeedLog {
  private readonly capacity: number;
  private readonly ring: (FeedEntry | undefined)[];
  private start = 0;
  private count = 0;
  /** Per stream and partition: every record from this offset on is held (or not read yet). */
  private readonly firstHeldAt: FeedCursor;
  /** Per stream and partition: the offset after the last record read. */
  private readonly headAt: FeedCursor;

  constructor(capacity: number, starts: FeedCursor) {
    this.capacity = capacity;
    this.ring = new Array<FeedEntry | undefined>(capacity);
    this.firstHeldAt = { alerts: [...starts.alerts], labels: [...starts.labels] };
    this.headAt = { alerts: [...starts.alerts], labels: [...starts.labels] };
  }

  get size(): number {
    return this.count;
  }

  /** Where a browser that has seen everything read so far stands. */
  head(): FeedCursor {
    return { alerts: [...this.headAt.alerts], labels: [...this.headAt.labels] };
  }

  firstHeld(): FeedCursor {
    return { alerts: [...this.firstHeldAt.alerts], labels: [...this.firstHeldAt.labels] };
  }

  append(entry: FeedEntry): void {
    if (this.count === this.capacity) {
      const evicted = this.ring[this.start]!;
      this.firstHeldAt[evicted.stream][evicted.partition] = evicted.offset + 1;
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    this.ring[(this.start + this.count) % this.capacity] = entry;
    this.count++;
    const head = this.headAt[entry.stream];
    head[entry.partition] = Math.max(head[entry.partition] ?? 0, entry.offset + 1);
  }

  /**
   * Whether everything after `cursor` is held or still to come: same partitions, and on each at
   * or past the first held offset.
   */
  covers(cursor: FeedCursor): boolean {
    const ok = (stream: FeedStream) =>
      cursor[stream].length === this.firstHeldAt[stream].length &&
      cursor[stream].every((o, p) => o >= this.firstHeldAt[stream][p]!);
    return ok('alerts') && ok('labels');
  }

  /** Every held entry, oldest first. */
  *all(): Generator<FeedEntry> {
    for (let i = 0; i < this.count; i++) yield this.ring[(this.start + i) % this.capacity]!;
  }

  /** The held entries the cursor has not seen, in the order they were read. */
  *after(cursor: FeedCursor): Generator<FeedEntry> {
    for (let i = 0; i < this.count; i++) {
      const e = this.ring[(this.start + i) % this.capacity]!;
      if (e.offset >= (cursor[e.stream][e.partition] ?? Infinity)) yield e;
    }
  }
}
