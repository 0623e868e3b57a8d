// Counters and gauges the operator needs (rows archived per table, dead letters, insert latency,
// whether ClickHouse is reachable and for how long it was not), kept in memory, logged by main.ts
// and read by tests.
import type { ArchiveKind } from './archive-rows.ts';

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

  inserted(kind: ArchiveKind, rows: number, ms: number): void {
    this.archived[kind] += rows;
    this.inserts++;
    if (this.insertMs.length < 10000) this.insertMs.push(ms);
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
