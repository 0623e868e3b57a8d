// Counters the operator needs (events/s, alerts/s, restore progress, transaction commit
// latency, committed offsets per partition), kept in memory and read by the stats logger.
export interface CommitRecord {
  partition: number;
  events: number;
  duplicates: number;
  alerts: number;
  deadLetters: number;
  usersWritten: number;
  commitMs: number;
  nextOffset: string;
}

export class ProcessorStats {
  events = 0;
  duplicates = 0;
  alerts = 0;
  deadLetters = 0;
  transactions = 0;
  usersWritten = 0;
  restoredRecords = 0;
  restoreMs = 0;
  readonly restoringPartitions = new Set<number>();
  readonly committedOffsets = new Map<number, string>();
  private commitMs: number[] = [];

  committed(r: CommitRecord): void {
    this.events += r.events;
    this.duplicates += r.duplicates;
    this.alerts += r.alerts;
    this.deadLetters += r.deadLetters;
    this.usersWritten += r.usersWritten;
    this.transactions++;
    this.committedOffsets.set(r.partition, r.nextOffset);
    if (this.commitMs.length < 10000) this.commitMs.push(r.commitMs);
  }

  restoring(partition: number, active: boolean): void {
    if (active) this.restoringPartitions.add(partition);
    else this.restoringPartitions.delete(partition);
  }

  restored(records: number, ms: number): void {
    this.restoredRecords += records;
    this.restoreMs += ms;
  }

  /** Commit latency percentiles since the last call, ms. */
  takeCommitLatency(): { p50: number; p99: number; count: number } {
    const a = this.commitMs.sort((x, y) => x - y);
    this.commitMs = [];
    const at = (q: number) => (a.length === 0 ? 0 : a[Math.min(a.length - 1, Math.floor(q * a.length))]!);
    return { p50: at(0.5), p99: at(0.99), count: a.length };
  }
}
