// What the operator needs to see (events/s, alerts/s, lag per partition, restore progress,
// transaction commit latency, users held), kept in memory as the single source of truth and
// mirrored to OpenTelemetry instruments, which `GET /metrics` serves to Prometheus. Without an
// OpenTelemetry SDK registered the instruments are no-ops; `GET /metrics.json`
// (processor-metrics.ts) renders the same numbers from here.
import { metrics, type Meter } from '@opentelemetry/api';

export interface CommitRecord {
  partition: number;
  events: number;
  duplicates: number;
  alerts: number;
  /** Alerts of shadow rule versions, committed to the shadow alerts topic. */
  shadowAlerts: number;
  deadLetters: number;
  usersWritten: number;
  commitMs: number;
  nextOffset: number;
}

export interface PartitionView {
  partition: number;
  committedOffset: number | undefined;
  highWatermark: number | undefined;
  /** Records appended but not yet committed by this instance (as of the last fetch). */
  lag: number | undefined;
  users: number;
  restoring: boolean;
  restoreRecords: number;
  restoreUsers: number;
  restoreMs: number | undefined;
}

/** Upper bounds (ms) of the transaction commit latency histogram. */
export const COMMIT_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

interface PartitionState {
  committedOffset: number | undefined;
  highWatermark: number | undefined;
  restoring: boolean;
  restoreStartedAt: number;
  restoreRecords: number;
  restoreUsers: number;
  restoreMs: number | undefined;
}

const newPartition = (): PartitionState => ({
  committedOffset: undefined,
  highWatermark: undefined,
  restoring: false,
  restoreStartedAt: 0,
  restoreRecords: 0,
  restoreUsers: 0,
  restoreMs: undefined,
});

export class ProcessorStats {
  events = 0;
  duplicates = 0;
  alerts = 0;
  shadowAlerts = 0;
  deadLetters = 0;
  transactions = 0;
  usersWritten = 0;
  restoredRecords = 0;
  restoreMs = 0;
  /** Cumulative counts per COMMIT_BUCKETS_MS bound (plus +Inf last), sum and count, in ms. */
  readonly commitBuckets = new Array<number>(COMMIT_BUCKETS_MS.length + 1).fill(0);
  commitSumMs = 0;
  readonly partitions = new Map<number, PartitionState>();
  assignedPartitions: number[] = [];
  /** Users held per partition, supplied by the processor. */
  usersByPartition: () => Map<number, number> = () => new Map();
  private recentCommitMs: number[] = [];
  private readonly now: () => number;
  private readonly instruments;

  constructor(meter: Meter = metrics.getMeter('tradewatch-processor'), now: () => number = Date.now) {
    this.now = now;
    const counter = (name: string, description: string, unit: string) =>
      meter.createCounter(`tradewatch.processor.${name}`, { description, unit });
    this.instruments = {
      events: counter('events', 'Events applied and committed', '{event}'),
      duplicates: counter('duplicates', 'Events ignored as duplicates of an applied eventId', '{event}'),
      alerts: counter('alerts', 'Alerts committed to the alerts topic', '{alert}'),
      shadowAlerts: counter('shadow_alerts', 'Alerts of shadow rule versions committed', '{alert}'),
      deadLetters: counter('dead_letters', 'Records sent to the dead-letter topic', '{record}'),
      transactions: counter('transactions', 'Transactions committed', '{transaction}'),
      changelog: counter('changelog.records', 'User states written to the changelog', '{record}'),
      restored: counter('restore.records', 'Changelog records read while restoring', '{record}'),
      commitLatency: meter.createHistogram('tradewatch.processor.transaction.duration', {
        description: 'Time to send and commit one transaction',
        unit: 's',
        advice: { explicitBucketBoundaries: COMMIT_BUCKETS_MS.map((b) => b / 1000) },
      }),
    };
    const observe = (name: string, description: string, unit: string, read: () => [number, number][]) =>
      meter
        .createObservableGauge(`tradewatch.processor.${name}`, { description, unit })
        .addCallback((result) => {
          for (const [partition, value] of read()) result.observe(value, { partition });
        });
    observe('lag', 'Records appended to the partition and not yet committed', '{record}', () =>
      this.view().flatMap((p) => (p.lag === undefined ? [] : [[p.partition, p.lag]])),
    );
    observe('restore.progress', 'Changelog records read by the restore in progress', '{record}', () =>
      this.view().flatMap((p) => (p.restoring ? [[p.partition, p.restoreRecords]] : [])),
    );
    observe('users', 'Users whose state this instance holds', '{user}', () =>
      this.view().map((p) => [p.partition, p.users]),
    );
  }

  private partition(p: number): PartitionState {
    let s = this.partitions.get(p);
    if (s === undefined) {
      s = newPartition();
      this.partitions.set(p, s);
    }
    return s;
  }

  assigned(partitions: number[]): void {
    this.assignedPartitions = partitions;
    for (const p of [...this.partitions.keys()]) if (!partitions.includes(p)) this.partitions.delete(p);
  }

  dropped(partition: number): void {
    const s = this.partitions.get(partition);
    if (s !== undefined) s.restoring = false;
  }

  /** One partition's share of a committed transaction. */
  committed(r: CommitRecord): void {
    this.events += r.events;
    this.duplicates += r.duplicates;
    this.alerts += r.alerts;
    this.shadowAlerts += r.shadowAlerts;
    this.deadLetters += r.deadLetters;
    this.usersWritten += r.usersWritten;
    this.partition(r.partition).committedOffset = r.nextOffset;
    const attrs = { partition: r.partition };
    this.instruments.events.add(r.events, attrs);
    this.instruments.duplicates.add(r.duplicates, attrs);
    this.instruments.alerts.add(r.alerts, attrs);
    this.instruments.shadowAlerts.add(r.shadowAlerts, attrs);
    this.instruments.deadLetters.add(r.deadLetters, attrs);
    this.instruments.changelog.add(r.usersWritten, attrs);
  }

  /** A transaction (of every task of this instance) committed after `commitMs`. */
  transactionCommitted(commitMs: number): void {
    this.transactions++;
    let i = COMMIT_BUCKETS_MS.findIndex((b) => commitMs <= b);
    if (i < 0) i = COMMIT_BUCKETS_MS.length;
    for (; i < this.commitBuckets.length; i++) this.commitBuckets[i]!++;
    this.commitSumMs += commitMs;
    if (this.recentCommitMs.length < 10000) this.recentCommitMs.push(commitMs);
    this.instruments.transactions.add(1);
    this.instruments.commitLatency.record(commitMs / 1000);
  }

  highWatermark(partition: number, offset: number): void {
    this.partition(partition).highWatermark = offset;
  }

  restoreStarted(partition: number): void {
    const s = this.partition(partition);
    s.restoring = true;
    s.restoreStartedAt = this.now();
    s.restoreRecords = 0;
    s.restoreUsers = 0;
    s.restoreMs = undefined;
  }

  restoreProgress(partition: number, records: number, users: number): void {
    const s = this.partition(partition);
    this.instruments.restored.add(records - s.restoreRecords, { partition });
    s.restoreRecords = records;
    s.restoreUsers = users;
  }

  restored(partition: number, records: number, users: number, ms: number): void {
    const s = this.partition(partition);
    this.restoreProgress(partition, records, users);
    s.restoring = false;
    s.restoreMs = ms;
    this.restoredRecords += records;
    this.restoreMs += ms;
  }

  get restoringPartitions(): number[] {
    return [...this.partitions].filter(([, s]) => s.restoring).map(([p]) => p);
  }

  view(): PartitionView[] {
    const users = this.usersByPartition();
    return this.assignedPartitions.map((partition) => {
      const s = this.partitions.get(partition) ?? newPartition();
      const lag =
        s.highWatermark === undefined || s.committedOffset === undefined
          ? undefined
          : Math.max(0, s.highWatermark - s.committedOffset);
      return {
        partition,
        committedOffset: s.committedOffset,
        highWatermark: s.highWatermark,
        lag,
        users: users.get(partition) ?? 0,
        restoring: s.restoring,
        restoreRecords: s.restoreRecords,
        restoreUsers: s.restoreUsers,
        restoreMs: s.restoreMs,
      };
    });
  }

  /** Commit latency percentiles since the last call, ms. */
  takeCommitLatency(): { p50: number; p99: number; count: number } {
    const a = this.recentCommitMs.sort((x, y) => x - y);
    this.recentCommitMs = [];
    const at = (q: number) => (a.length === 0 ? 0 : a[Math.min(a.length - 1, Math.floor(q * a.length))]!);
    return { p50: at(0.5), p99: at(0.99), count: a.length };
  }
}
