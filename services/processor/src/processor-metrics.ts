// The processor's metrics as a dashboard or a Prometheus scrape reads them until an
// OpenTelemetry exporter is wired: Prometheus text format 0.0.4 (`GET /metrics`) and JSON (the
// same numbers plus rates over the last ~10 s and process memory, `GET /metrics.json`); the HTTP
// server (processor-http-server.ts) serves them.
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

  prometheus(): string {
    const s = this.stats;
    const base = Object.entries(this.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const lbl = (extra: string[] = []) => {
      const all = [...base, ...extra];
      return all.length === 0 ? '' : `{${all.join(',')}}`;
    };
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, rows: [string[], number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [extra, v] of rows) out.push(`${name}${lbl(extra)} ${v}`);
    };
    const counter = (name: string, help: string, v: number) =>
      metric(`tradewatch_processor_${name}_total`, 'counter', help, [[[], v]]);
    counter('events', 'Events applied and committed.', s.events);
    counter('alerts', 'Alerts committed to the alerts topic.', s.alerts);
    counter('duplicates', 'Events ignored as duplicates of an applied eventId.', s.duplicates);
    counter('dead_letters', 'Records sent to the dead-letter topic.', s.deadLetters);
    counter('transactions', 'Transactions committed.', s.transactions);
    counter('changelog_records', 'User states written to the changelog.', s.usersWritten);
    counter('restore_records', 'Changelog records read by completed restores.', s.restoredRecords);
    const partitions = s.view();
    const per = (f: (p: (typeof partitions)[number]) => number | undefined): [string[], number][] =>
      partitions.flatMap((p) => {
        const v = f(p);
        return v === undefined ? [] : [[[`partition="${p.partition}"`], v]];
      });
    metric(
      'tradewatch_processor_lag',
      'gauge',
      'Records appended and not yet committed.',
      per((p) => p.lag),
    );
    metric(
      'tradewatch_processor_committed_offset',
      'gauge',
      'Next offset to process, as committed.',
      per((p) => p.committedOffset),
    );
    metric(
      'tradewatch_processor_users',
      'gauge',
      'Users whose state is held.',
      per((p) => p.users),
    );
    metric(
      'tradewatch_processor_restoring',
      'gauge',
      '1 while the partition restores.',
      per((p) => +p.restoring),
    );
    metric(
      'tradewatch_processor_restore_records',
      'gauge',
      'Changelog records read by the current or last restore.',
      per((p) => p.restoreRecords),
    );
    const h = 'tradewatch_processor_transaction_duration_ms';
    out.push(`# HELP ${h} Time to send and commit one transaction.`, `# TYPE ${h} histogram`);
    COMMIT_BUCKETS_MS.forEach((b, i) => out.push(`${h}_bucket${lbl([`le="${b}"`])} ${s.commitBuckets[i]}`));
    out.push(`${h}_bucket${lbl(['le="+Inf"'])} ${s.commitBuckets.at(-1)}`);
    out.push(`${h}_sum${lbl()} ${s.commitSumMs}`, `${h}_count${lbl()} ${s.commitBuckets.at(-1)}`);
    const mem = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', [[[], mem.rss]]);
    metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [[[], mem.heapUsed]]);
    metric('nodejs_array_buffers_bytes', 'gauge', 'Memory of ArrayBuffers (the state columns).', [
      [[], mem.arrayBuffers],
    ]);
    return `${out.join('\n')}\n`;
  }

  /** Stops sampling the rates. */
  close(): void {
    clearInterval(this.sampler);
  }
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
