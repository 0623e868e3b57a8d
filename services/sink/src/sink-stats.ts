// Counters and gauges the operator needs (rows archived per table, dead letters, insert latency,
// consumer lag per partition, whether ClickHouse is reachable and for how long it was not), kept
// in memory, logged by main.ts and read by tests, and mirrored to OpenTelemetry instruments that
// `GET /metrics` serves to Prometheus (no-ops without an SDK registered).
import { metrics, type Meter } from '@opentelemetry/api';
import type { ArchiveKind } from './archive-rows.ts';

/** Upper bounds (s) of the insert latency histogram. */
const INSERT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface PartitionProgress {
  highWatermark: number | undefined;
  committed: number | undefined;
}

export class SinkStats {
  readonly archived: Record<ArchiveKind, number> = { events: 0, alerts: 0, shadow: 0, labels: 0, rules: 0 };
  deadLetters = 0;
  inserts = 0;
  /** Inserts that failed and were retried (ClickHouse down or busy, Kafka unreachable). */
  insertRetries = 0;
  /** Inserts split in two to isolate rows ClickHouse rejected. */
  bisections = 0;
  commits = 0;
  commitFailures = 0;
  /** Batches dropped unflushed because their partition was revoked (they are read again). */
  abandonedBatches = 0;
  clickhouseAvailable = true;
  outages = 0;
  outageMsTotal = 0;
  private outageSince: number | undefined;
  private insertMs: number[] = [];
  /** By topic, then partition: of the partitions this member is assigned. */
  private readonly progress = new Map<string, Map<number, PartitionProgress>>();
  private readonly instruments;

  constructor(meter: Meter = metrics.getMeter('tradewatch-sink')) {
    this.instruments = {
      rows: meter.createCounter('tradewatch.sink.rows.archived', {
        description: 'Rows inserted into the archive',
        unit: '{row}',
      }),
      insertDuration: meter.createHistogram('tradewatch.sink.insert.duration', {
        description: 'Time of one successful insert into the archive',
        unit: 's',
        advice: { explicitBucketBoundaries: INSERT_BUCKETS_S },
      }),
      deadLetters: meter.createCounter('tradewatch.sink.dead_letters', {
        description: 'Records sent to the dead-letter topic',
        unit: '{record}',
      }),
      retries: meter.createCounter('tradewatch.sink.insert.retries', {
        description: 'Inserts that failed and were retried',
        unit: '{insert}',
      }),
    };
    meter
      .createObservableGauge('tradewatch.sink.lag', {
        description: 'Records of the partition not yet archived and committed',
        unit: '{record}',
      })
      .addCallback((result) => {
        for (const [topic, partitions] of this.progress) {
          for (const [partition, p] of partitions) {
            if (p.highWatermark === undefined || p.committed === undefined) continue;
            result.observe(Math.max(0, p.highWatermark - p.committed), {
              'messaging.destination.name': topic,
              'messaging.destination.partition.id': String(partition),
            });
          }
        }
      });
    meter
      .createObservableGauge('tradewatch.sink.clickhouse.available', {
        description: '1 while ClickHouse takes inserts, 0 during an outage',
        unit: '1',
      })
      .addCallback((result) => result.observe(this.clickhouseAvailable ? 1 : 0));
  }

  inserted(kind: ArchiveKind, rows: number, ms: number): void {
    this.archived[kind] += rows;
    this.inserts++;
    if (this.insertMs.length < 10000) this.insertMs.push(ms);
    const attrs = { 'tradewatch.archive.table': kind };
    this.instruments.rows.add(rows, attrs);
    this.instruments.insertDuration.record(ms / 1000, attrs);
  }

  deadLettered(records: number): void {
    this.deadLetters += records;
    this.instruments.deadLetters.add(records);
  }

  insertRetried(): void {
    this.insertRetries++;
    this.instruments.retries.add(1);
  }

  private partition(topic: string, partition: number): PartitionProgress {
    let t = this.progress.get(topic);
    if (t === undefined) {
      t = new Map();
      this.progress.set(topic, t);
    }
    let p = t.get(partition);
    if (p === undefined) {
      p = { highWatermark: undefined, committed: undefined };
      t.set(partition, p);
    }
    return p;
  }

  /**
   * A fetch of the partition saw this high watermark, reading from `position`: until the first
   * commit, where the member started is what is archived.
   */
  fetched(topic: string, partition: number, highWatermark: number, position: number): void {
    const p = this.partition(topic, partition);
    p.highWatermark = highWatermark;
    p.committed ??= position;
  }

  /** The partition's offset was committed: everything below it is archived. */
  committed(topic: string, partition: number, offset: number): void {
    this.commits++;
    this.partition(topic, partition).committed = offset;
  }

  /** The partition is no longer this member's: its lag is reported by its next owner. */
  revoked(topic: string, partition: number): void {
    this.progress.get(topic)?.delete(partition);
  }

  outageStarted(now: number): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = now;
    this.outages++;
    this.clickhouseAvailable = false;
  }

  /** Ends the current outage, if any, and returns its duration in ms. */
  outageEnded(now: number): number | undefined {
    if (this.outageSince === undefined) return undefined;
    const ms = now - this.outageSince;
    this.outageMsTotal += ms;
    this.outageSince = undefined;
    this.clickhouseAvailable = true;
    return ms;
  }

  currentOutageMs(now: number): number {
    return this.outageSince === undefined ? 0 : now - this.outageSince;
  }

  /** Insert latency percentiles since the last call, ms. */
  takeInsertLatency(): { p50: number; p99: number; count: number } {
    const a = this.insertMs.sort((x, y) => x - y);
    this.insertMs = [];
    const at = (q: number) => (a.length === 0 ? 0 : a[Math.min(a.length - 1, Math.floor(q * a.length))]!);
    return { p50: at(0.5), p99: at(0.99), count: a.length };
  }
}
