// What the gateway counts of its requests' events (accepted, duplicates, rate-limited, by mode),
// and GET /metrics, on in-memory ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IngestMetrics } from '../src/gateway-metrics.ts';
import { buildTestApp, JSON_HEADERS, SANDBOX_TOKEN, trade } from './support/memory-ports.ts';

const post = (body: unknown, headers: Record<string, string> = JSON_HEADERS) => ({
  method: 'POST' as const,
  url: '/v1/events',
  headers,
  payload: JSON.stringify(body),
});

const countingMetrics = () => {
  const counts: Record<string, number> = {};
  const add = (name: string) => (mode: string, n: number) => {
    counts[`${name}:${mode}`] = (counts[`${name}:${mode}`] ?? 0) + n;
  };
  const metrics: IngestMetrics = {
    accepted: add('accepted'),
    duplicates: add('duplicates'),
    rateLimited: add('rateLimited'),
  };
  return { metrics, counts };
};

test('events are counted as accepted, duplicates or rate-limited, per mode, as the replies say', async () => {
  const { metrics, counts } = countingMetrics();
  const { app, rateGate } = await buildTestApp({ metrics });
  assert.equal((await app.inject(post({ events: [trade(1), trade(2)] }))).statusCode, 202);
  const again = await app.inject(post({ events: [trade(2), trade(3)] }));
  assert.deepEqual(again.json(), { accepted: 1, duplicates: 1 });
  const sandbox = { authorization: `Bearer ${SANDBOX_TOKEN}`, 'content-type': 'application/json' };
  assert.equal((await app.inject(post(trade(1), sandbox))).statusCode, 202);
  rateGate.limit = 0;
  assert.equal((await app.inject(post({ events: [trade(4), trade(5), trade(6)] }))).statusCode, 429);
  // A refused request counts nothing else.
  assert.equal((await app.inject(post({ events: [{ ...trade(7), amount: -1 }] }))).statusCode, 400);
  assert.deepEqual(counts, {
    'accepted:live': 3,
    'duplicates:live': 1,
    'accepted:sandbox': 1,
    'duplicates:sandbox': 0,
    'rateLimited:live': 3,
  });
});

test('GET /metrics serves the telemetry in the Prometheus text format, unauthenticated', async () => {
  const type = 'text/plain; version=0.0.4; charset=utf-8';
  const { app } = await buildTestApp({
    telemetry: {
      prometheusText: () => Promise.resolve('tradewatch_gateway_events_accepted_total 3\n'),
      prometheusContentType: type,
      fastifyPlugin: () => undefined,
    },
  });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], type);
  assert.equal(res.body, 'tradewatch_gateway_events_accepted_total 3\n');
  const none = await buildTestApp();
  assert.equal((await none.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
});
