// The operator's view of a running pipeline, end to end with every service a real process: the
// trace of a game server's request reaches the processing of its event, the alert it raised and
// the archive's inserts (spans exported over OTLP to a collector in this test); Debian's
// Prometheus, started by infra/infra.sh, scrapes every service's metrics; the loss audit
// reconciles the run, and finds a row deleted from the archive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startDeskPipeline, takeover, type DeskPipeline, type Takeover } from './support/desk-pipeline.ts';
import { clickhouse, clickhouseCommand, freePort, ROOT, waitUntil } from './support/harness.ts';
import {
  startOtlpCollector,
  startTestPrometheus,
  type OtlpCollector,
  type TestPrometheus,
} from './support/observability.ts';

let collector: OtlpCollector;
let prometheus: TestPrometheus;
let pipeline: DeskPipeline;
let sinkPort: number;
let ann: Takeover;
const traceId = randomBytes(16).toString('hex');
const startedAt = Date.now();

before(async () => {
  collector = await startOtlpCollector();
  prometheus = await startTestPrometheus();
  sinkPort = await freePort();
  pipeline = await startDeskPipeline({
    processors: 1,
    env: { ...collector.env, SINK_METRICS_PORT: String(sinkPort) },
  });
  ann = takeover(pipeline.id, 'obs-ann', {
    homeIps: ['10.1.0.1', '10.1.0.2'],
    trades: [10, 12, 9, 11, 10],
    newIp: '203.0.113.50',
    amount: 900,
  });
  await pipeline.post(ann.events.slice(0, -1));
  // The game server's own, sampled trace: the flagged trade's request continues it whatever
  // the gateway's own ratio for new traces (1 % by default).
  await pipeline.post(ann.events.slice(-1), {
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
  });
});

after(async () => {
  await pipeline?.stop();
  await prometheus?.stop();
  await collector?.close();
});

test("a request's trace leads to the processing of its event, the alert it raised and both inserts", async () => {
  const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
  const spans = await waitUntil(
    'the spans of the traced request from every hop',
    () => {
      const t = inTrace();
      const alertInsert = t.find((s) => s.service === 'tradewatch-sink' && /alerts$/.test(s.name));
      const eventInsert = t.find((s) => s.service === 'tradewatch-sink' && /events$/.test(s.name));
      return alertInsert !== undefined && eventInsert !== undefined ? t : undefined;
    },
    60000,
  );
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const parentOf = (s: (typeof spans)[number]) => byId.get(s.parentSpanId);
  /** Whether `ancestor` is `s`'s parent, grandparent, ... */
  const descendsFrom = (s: (typeof spans)[number], ancestor: (typeof spans)[number]): boolean => {
    for (let p = parentOf(s); p !== undefined; p = parentOf(p)) if (p.spanId === ancestor.spanId) return true;
    return false;
  };

  const request = spans.find((s) => s.service === 'tradewatch-gateway' && s.name === 'request');
  assert.ok(
    request,
    `the gateway's request span (spans: ${spans.map((s) => `${s.service}/${s.name}`).join(', ')})`,
  );
  assert.equal(request.attributes['http.route'], '/v1/events');
  const publish = spans.find((s) => s.service === 'tradewatch-gateway' && s.name.startsWith('send '));
  assert.ok(publish, 'the publish span');
  assert.ok(descendsFrom(publish, request), 'the publish happens within the request');

  const processing = spans.find((s) => s.service === 'tradewatch-processor');
  assert.ok(processing, 'the processing span');
  assert.equal(processing.attributes['tradewatch.event.id'], ann.tradeEventId);
  assert.equal(processing.attributes['tradewatch.alert.id'], ann.alertId);
  assert.equal(parentOf(processing)?.spanId, publish.spanId, 'processing continues the publish');

  const alertInsert = spans.find((s) => s.service === 'tradewatch-sink' && /alerts$/.test(s.name))!;
  assert.equal(parentOf(alertInsert)?.spanId, processing.spanId, 'the alert insert continues the processing');
  const eventInsert = spans.find((s) => s.service === 'tradewatch-sink' && /events$/.test(s.name))!;
  assert.equal(parentOf(eventInsert)?.spanId, publish.spanId, 'the event insert continues the publish');

  // The earlier, untraced requests started traces of their own: none of their records is here.
  assert.equal(spans.filter((s) => s.service === 'tradewatch-processor').length, 1);
  const archived = await clickhouse<{ n: string }>(
    `SELECT count() AS n FROM ${pipeline.database}.alerts FINAL WHERE alertId = '${ann.alertId}'`,
  );
  assert.equal(Number(archived[0]!.n), 1);
});

test("Prometheus scrapes every service's metrics", async () => {
  const owner = await pipeline.ownerOf(ann.userId);
  const host = (url: string) => new URL(url).host;
  prometheus.scrape('gateway', [host(pipeline.gatewayUrl)]);
  prometheus.scrape('processor', [host(owner.endpoint)]);
  prometheus.scrape('sink', [`127.0.0.1:${sinkPort}`]);
  prometheus.scrape('dashboard', [host(pipeline.dashboardUrl)]);
  await waitUntil(
    'all four jobs to be scraped and up',
    async () => {
      const targets = await prometheus.targets();
      const up = new Set(targets.filter((t) => t.health === 'up').map((t) => t.job));
      return ['gateway', 'processor', 'sink', 'dashboard'].every((j) => up.has(j)) ? targets : undefined;
    },
    60000,
    500,
  );
  const value = async (promql: string) => {
    const r = await prometheus.query(promql);
    return r.length === 0 ? undefined : Number(r[0]!.value[1]);
  };
  const events = ann.events.length;
  // What the pipeline did, as each stage counted it, read back through Prometheus.
  const expectations: [string, (v: number) => boolean][] = [
    ['sum(tradewatch_gateway_events_accepted_total{job="gateway"})', (v) => v === events],
    ['sum(tradewatch_gateway_events_published_total{job="gateway"})', (v) => v === events],
    [
      'sum(http_server_request_duration_count{job="gateway", http_route="/v1/events", http_response_status_code="202"})',
      (v) => v === 2,
    ],
    ['sum(tradewatch_processor_events_total{job="processor"})', (v) => v === events],
    ['sum(tradewatch_processor_alerts_total{job="processor"})', (v) => v === 1],
    ['sum(tradewatch_processor_transaction_duration_count{job="processor"})', (v) => v >= 1],
    ['count(tradewatch_processor_lag{job="processor"})', (v) => v >= 1],
    [
      'sum(tradewatch_sink_rows_archived_total{job="sink", tradewatch_archive_table="events"})',
      (v) => v === events,
    ],
    [
      'sum(tradewatch_sink_rows_archived_total{job="sink", tradewatch_archive_table="alerts"})',
      (v) => v === 1,
    ],
    ['sum(tradewatch_sink_lag{job="sink"})', (v) => v === 0],
    ['count(http_server_request_duration_count{job="dashboard"})', (v) => v >= 1],
    ['count(nodejs_eventloop_delay_p99) by (job)', (v) => v >= 1],
    ['count(process_memory_usage)', (v) => v === 4],
  ];
  for (const [promql, ok] of expectations) {
    await waitUntil(
      promql,
      async () => {
        const v = await value(promql);
        return v !== undefined && ok(v);
      },
      30000,
      500,
    );
  }
  // The recording rules evaluate over what was scraped.
  await waitUntil(
    'the recording rules',
    async () => (await value('tradewatch:sink_lag:sum')) !== undefined,
    30000,
    500,
  );
});

const audit = () => {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/audit.ts'), '--from', new Date(startedAt).toISOString(), '--to', String(Date.now())],
    { env: { ...process.env, ...pipeline.env }, encoding: 'utf8', timeout: 60000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

test('the loss audit reconciles a complete run, then finds a row deleted from the archive', async () => {
  const events = ann.events.length;
  // The sink has committed past every record (the insert spans above end after the commit).
  const clean = audit();
  assert.equal(clean.status, 0, clean.out);
  const count = (stage: string) => new RegExp(`^${stage} +${events} +0 +0 +0$`, 'm');
  assert.match(clean.out, count('accepted by the gateway'));
  assert.match(clean.out, count('records on the events topic'));
  assert.match(clean.out, count('applied by the processors'));
  assert.match(clean.out, count('rows in the events archive'));
  assert.match(clean.out, /^alerts on the alerts topic +1 +0 +0 +0$/m);
  assert.match(clean.out, /^rows in the alerts archive +1 +0 +0 +0$/m);

  const lostId = String(ann.events[2]!.eventId);
  await clickhouseCommand(`ALTER TABLE ${pipeline.database}.events DELETE WHERE eventId = '${lostId}'`);
  await waitUntil('the mutation to delete the row', async () => {
    const rows = await clickhouse(
      `SELECT eventId FROM ${pipeline.database}.events WHERE eventId = '${lostId}'`,
    );
    return rows.length === 0;
  });
  const planted = audit();
  assert.equal(planted.status, 1, planted.out);
  assert.match(planted.out, new RegExp(`^rows in the events archive +${events - 1} +1 LOST +0 +0$`, 'm'));
  assert.match(planted.out, new RegExp(`LOST at "rows in the events archive": ${lostId}$`, 'm'));
});
