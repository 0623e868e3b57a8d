// Per-second rates for the overview's live chart. With a Prometheus (DASHBOARD_PROMETHEUS_URL),
// the rates every gateway and processor report: events accepted and alerts committed, summed over
// the instances. Without one, or while it does not answer: events from the growth of the events
// topic (its end offsets; the gateway's producer is not transactional, so each offset is one
// event), alerts from the committed alerts the feed reads. Five minutes are kept.
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { RatePoint } from './api-types.ts';

export interface RateSource {
  points(): RatePoint[];
}

const KEEP = 300;

/** What the chart asks Prometheus: per-second rates over the pipeline, live traffic only. */
export const PROMETHEUS_RATE_QUERIES = {
  events: 'sum(rate(tradewatch_gateway_events_accepted_total{tradewatch_ingest_mode="live"}[30s]))',
  alerts: 'sum(rate(tradewatch_processor_alerts_total[30s]))',
} as const;

export interface LiveRatesOptions {
  admin: Pick<KafkaAdmin, 'watermarks'>;
  /** Base URL of a Prometheus scraping the gateways and processors. */
  prometheusUrl?: URL | undefined;
  eventsTopic: string;
  alertsRead: () => number;
  log: Logger;
  everyMs?: number;
}

export class LiveRates implements RateSource {
  private readonly series: RatePoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last: { at: number; events: number; alerts: number } | undefined;
  private sampling = false;

  private readonly o: LiveRatesOptions;

  constructor(options: LiveRatesOptions) {
    this.o = options;
  }

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.o.everyMs ?? 1000);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  points(): RatePoint[] {
    return [...this.series];
  }

  /** One instant query; a number, or undefined when Prometheus has no such series yet. */
  private async prometheusRate(base: URL, query: string): Promise<number | undefined> {
    const url = new URL('api/v1/query', base);
    url.searchParams.set('query', query);
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`Prometheus answered ${res.status}`);
    const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
    const v = body.data?.result?.[0]?.value?.[1];
    return v === undefined ? undefined : Number(v);
  }

  private async samplePrometheus(base: URL): Promise<boolean> {
    try {
      const [events, alerts] = await Promise.all([
        this.prometheusRate(base, PROMETHEUS_RATE_QUERIES.events),
        this.prometheusRate(base, PROMETHEUS_RATE_QUERIES.alerts),
      ]);
      if (events === undefined && alerts === undefined) return false;
      this.push({ t: Math.round(Date.now() / 1000), events: events ?? 0, alerts: alerts ?? 0 });
      return true;
    } catch (err) {
      this.o.log.debug({ err }, 'Prometheus rate query failed; sampling Kafka');
      return false;
    }
  }

  private push(point: RatePoint): void {
    this.series.push(point);
    if (this.series.length > KEEP) this.series.shift();
  }

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      // Kafka's counts are still taken: a Prometheus that stops answering leaves no gap.
      const fromPrometheus =
        this.o.prometheusUrl !== undefined && (await this.samplePrometheus(this.o.prometheusUrl));
      const marks = await this.o.admin.watermarks(this.o.eventsTopic);
      const now = {
        at: Date.now(),
        events: marks.reduce((n, w) => n + w.high, 0),
        alerts: this.o.alertsRead(),
      };
      if (this.last !== undefined && !fromPrometheus) {
        const secs = Math.max(0.001, (now.at - this.last.at) / 1000);
        this.push({
          t: Math.round(now.at / 1000),
          events: Math.max(0, (now.events - this.last.events) / secs),
          alerts: Math.max(0, (now.alerts - this.last.alerts) / secs),
        });
      }
      this.last = now;
    } catch (err) {
      this.o.log.warn({ err }, 'rate sample failed');
    } finally {
      this.sampling = false;
    }
  }
}
