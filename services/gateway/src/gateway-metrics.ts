// The gateway's own instruments (OpenTelemetry; no-ops until the SDK is started by main.ts):
// what happened to the events of the requests, by ingest mode. Request rate and latency are the
// HTTP server metric (shared/src/http-metrics.ts), recorded by app.ts.
import { metrics, type Meter } from '@opentelemetry/api';
import type { IngestMode } from './ports.ts';

export interface IngestMetrics {
  /** Events newly accepted (published and acknowledged). */
  accepted(mode: IngestMode, events: number): void;
  /** Events answered as duplicates of an eventId accepted before. */
  duplicates(mode: IngestMode, events: number): void;
  /** Events of requests refused by the rate limit. */
  rateLimited(mode: IngestMode, events: number): void;
}

export interface PublishMetrics {
  /** Records Kafka acknowledged on `topic`. */
  published(topic: string, records: number): void;
}

export const createGatewayMetrics = (
  meter: Meter = metrics.getMeter('tradewatch-gateway'),
): IngestMetrics & PublishMetrics => {
  const counter = (name: string, description: string, unit: string) =>
    meter.createCounter(`tradewatch.gateway.${name}`, { description, unit });
  const accepted = counter('events.accepted', 'Events accepted (a 202 counted them as new)', '{event}');
  const duplicates = counter('events.duplicates', 'Events answered as duplicates', '{event}');
  const rateLimited = counter(
    'events.rate_limited',
    'Events of requests refused by the rate limit',
    '{event}',
  );
  const published = counter('events.published', 'Event records acknowledged by Kafka', '{record}');
  return {
    accepted: (mode, n) => accepted.add(n, { 'tradewatch.ingest.mode': mode }),
    duplicates: (mode, n) => duplicates.add(n, { 'tradewatch.ingest.mode': mode }),
    rateLimited: (mode, n) => rateLimited.add(n, { 'tradewatch.ingest.mode': mode }),
    published: (topic, n) => published.add(n, { 'messaging.destination.name': topic }),
  };
};
