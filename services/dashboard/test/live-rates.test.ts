// The overview's live rates: from the Prometheus that scrapes the pipeline when one answers, from
// the events topic's offsets and the feed's alerts when none is set or it stops answering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { waitUntil } from '../../../test/support/harness.ts';
import { LiveRates, PROMETHEUS_RATE_QUERIES } from '../src/live-rates.ts';

const silent = pino({ level: 'silent' });

/** A Prometheus answering instant queries with `values[query]`, or `status` when it is not 200. */
const fakePrometheus = async (values: Record<string, number>, state: { status: number }) => {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    asked.push(query);
    if (state.status !== 200) return res.writeHead(state.status).end();
    const v = values[query];
    const result = v === undefined ? [] : [{ metric: {}, value: [Date.now() / 1000, String(v)] }];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return { url, asked, close: () => new Promise<void>((r) => server.close(() => r())) };
};

test('rates come from Prometheus while it answers, from the topic offsets when it does not', async () => {
  let offsets = 0;
  let alerts = 0;
  const state = { status: 200 };
  const prometheus = await fakePrometheus(
    { [PROMETHEUS_RATE_QUERIES.events]: 1234.5, [PROMETHEUS_RATE_QUERIES.alerts]: 2.5 },
    state,
  );
  const rates = new LiveRates({
    admin: { watermarks: () => Promise.resolve([{ partition: 0, low: 0, high: (offsets += 100) }]) },
    eventsTopic: 'game-events',
    prometheusUrl: prometheus.url,
    alertsRead: () => alerts,
    log: silent,
    everyMs: 20,
  });
  try {
    rates.start();
    const first = await waitUntil('a point from Prometheus', () => rates.points()[0]);
    assert.deepEqual({ events: first.events, alerts: first.alerts }, { events: 1234.5, alerts: 2.5 });
    assert.ok(prometheus.asked.includes(PROMETHEUS_RATE_QUERIES.events));

    state.status = 503;
    alerts = 1000;
    const fallback = await waitUntil('a point from the topic offsets', () =>
      rates.points().find((p) => p.events !== 1234.5),
    );
    // 100 offsets per sample of ~20 ms: thousands of events per second, far from Prometheus' value.
    assert.ok(fallback.events > 1000, `events/s from offsets: ${fallback.events}`);
  } finally {
    rates.stop();
    await prometheus.close();
  }
});
