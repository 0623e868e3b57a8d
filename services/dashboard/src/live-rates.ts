// Per-second rates for the overview's live chart: events from the growth of the events topic
// (its end offsets; the gateway's producer is not transactional, so each offset is one event),
// alerts from the committed alerts the feed reads. Five minutes are kept.
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { RatePoint } from './api-types.ts';

export interface RateSource {
  points(): RatePoint[];
}

const KEEP = 300;

export interface LiveRatesOptions {
  admin: KafkaAdmin;
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

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const marks = await this.o.admin.watermarks(this.o.eventsTopic);
      const now = {
        at: Date.now(),
        events: marks.reduce((n, w) => n + w.high, 0),
        alerts: this.o.alertsRead(),
      };
      if (this.last !== undefined) {
        const secs = Math.max(0.001, (now.at - this.last.at) / 1000);
        this.series.push({
          t: Math.round(now.at / 1000),
          events: Math.max(0, (now.events - this.last.events) / secs),
          alerts: Math.max(0, (now.alerts - this.last.alerts) / secs),
        });
        if (this.series.length > KEEP) this.series.shift();
      }
      this.last = now;
    } catch (err) {
      this.o.log.warn({ err }, 'rate sample failed');
    } finally {
      this.sampling = false;
    }
  }
}
