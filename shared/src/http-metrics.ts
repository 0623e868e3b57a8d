// The semantic conventions' HTTP server metric, `http.server.request.duration` (seconds, by
// method, route template and status), for the services whose HTTP layer records it from its
// response hook. Without an OpenTelemetry SDK registered the histogram is a no-op.
import { metrics, type Attributes, type Meter } from '@opentelemetry/api';

/** The conventions' advised bucket bounds for HTTP durations, seconds. */
export const HTTP_DURATION_BUCKETS_S = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

export interface HttpServerMetrics {
  /** One answered request; `route` is the route template (`/v1/events/:eventId`), never the URL. */
  record(method: string, route: string | undefined, status: number, seconds: number): void;
}

export const createHttpServerMetrics = (
  meter: Meter = metrics.getMeter('tradewatch-http'),
): HttpServerMetrics => {
  const duration = meter.createHistogram('http.server.request.duration', {
    description: 'Duration of HTTP server requests',
    unit: 's',
    advice: { explicitBucketBoundaries: HTTP_DURATION_BUCKETS_S },
  });
  return {
    record(method, route, status, seconds) {
      const attributes: Attributes = {
        'http.request.method': method,
        'http.response.status_code': status,
      };
      // Unmatched requests have no route: leaving it out keeps scanners' URLs out of the labels.
      if (route !== undefined) attributes['http.route'] = route;
      duration.record(seconds, attributes);
    },
  };
};
