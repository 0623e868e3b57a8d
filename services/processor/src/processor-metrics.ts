// The processor's numbers as JSON for tools and the benchmark (`GET /metrics.json`: the counters
// of processor-stats.ts plus rates over the last ~10 s, per-partition views and process memory).
// Prometheus reads the same counters through OpenTelemetry at `GET /metrics`.
import { getHeapSpaceStatistics } from 'node:v8';
import { COMMIT_BUCKETS_MS, type ProcessorStats } from './processor-stats.ts';

const SAMPLE_MS = 1000;
const WINDOW = 10;

interface Sample {
  at: number;
  events: number;
  alerts: number;
  transactions: number;
}

export class ProcessorMetrics {
  private readonly stats: ProcessorStats;
  private readonly labels: Record<string, string>;
  private readonly samples: Sample[] = [];
  private readonly sampler: NodeJS.Timeout;

  constructor(stats: ProcessorStats, labels: Record<string, string>) {
    this.stats = stats;
    this.labels = labels;
    this.sample();
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.sampler.unref();
  }

  private sample(): void {
    const s = this.stats;
    this.samples.push({ at: Date.now(), events: s.events, alerts: s.alerts, transactions: s.transactions });
    if (this.samples.length > WINDOW + 1) this.samples.shift();
  }

  /** Per-second rates over the sampled window, up to now. */
  rates(): { eventsPerSec: number; alertsPerSec: number; transactionsPerSec: number } {
    const first = this.samples[0]!;
    const s = this.stats;
    const secs = Math.max(0.001, (Date.now() - first.at) / 1000);
    return {
      eventsPerSec: (s.events - first.events) / secs,
      alertsPerSec: (s.alerts - first.alerts) / secs,
      transactionsPerSec: (s.transactions - first.transactions) / secs,
    };
  }

  json(): Record<string, unknown> {
    const s = this.stats;
    const partitions = s.view();
    return {
      ...this.labels,
      ...this.rates(),
      events: s.events,
      alerts: s.alerts,
      duplicates: s.duplicates,
      deadLetters: s.deadLetters,
      transactions: s.transactions,
      changelogRecords: s.usersWritten,
      usersHeld: partitions.reduce((n, p) => n + p.users, 0),
      lag: partitions.reduce((n, p) => n + (p.lag ?? 0), 0),
      restoring: s.restoringPartitions,
      commitLatencyMs: {
        count: s.commitBuckets.at(-1),
        meanMs: s.commitBuckets.at(-1)! === 0 ? 0 : s.commitSumMs / s.commitBuckets.at(-1)!,
        buckets: Object.fromEntries(COMMIT_BUCKETS_MS.map((b, i) => [b, s.commitBuckets[i]])),
      },
      partitions,
      memory: process.memoryUsage(),
      heapSpaces: Object.fromEntries(
        getHeapSpaceStatistics().map((h) => [h.space_name, { size: h.space_size, used: h.space_used_size }]),
      ),
    };
  }

  /** Stops sampling the rates. */
  close(): void {
    clearInterval(this.sampler);
  }
}
