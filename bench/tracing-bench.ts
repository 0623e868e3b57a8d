// What tracing costs (npm run bench -- tracing): the processor's and the gateway's throughput
// with spans sampled at 100 %, at 1 % and with tracing off, side by side in one run. Spans go
// over OTLP/HTTP to a collector in this process that counts and drops them.
//
//   processor — BENCH_TRACING_EVENTS events (default 300,000) over BENCH_TRACING_USERS users
//               (20,000), read from the start by one processor instance (exactly-once) per
//               variant, timed from its first commit to its commit of the end of every partition.
//               Every record carries a `traceparent` (so that the variants read the same bytes):
//               sampled on every record for 100 % (and for off: a processor without an endpoint
//               ignores them), sampled on 1 % and unsampled on the others for 1 %.
//   gateway   — POST /v1/events with batches of 100 for BENCH_SECONDS (default 8) per variant,
//               16 connections; one gateway process per variant, sampling its requests at the
//               ratio (OTEL_TRACES_SAMPLER=parentbased_traceidratio); a private redis-server.
//
// The machine is shared and small: each part starts with an unmeasured warm-up run, then runs
// the variants in the order off, 1 %, 100 %, 100 %, 1 %, off and reports each variant's mean.
// The SDK's span queue keeps its defaults (2048 spans): what it cannot export in time it drops,
// as in production, so `spans` says how many reached the collector.
//
// Writes bench/results/tracing-<time>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { encodeEvent } from '@tradewatch/shared/events';
import type { OutgoingRecord } from '@tradewatch/shared/kafka-port';
import {
  BROKERS,
  createTestTopology,
  freePort,
  ROOT,
  startService,
  testKafka,
  uniqueName,
  waitUntil,
  withAdmin,
} from '../test/support/harness.ts';
import { generateWorkload } from '../test/support/workload.ts';
import { loadTracingBenchConfig } from './bench-config.ts';

const cfg = loadTracingBenchConfig(process.env);
const EVENTS = cfg.events;
const USERS = cfg.users;
const SECONDS = cfg.seconds;
const PARTITIONS = 3;
const say = (msg: string) => process.stdout.write(`[tracing-bench] ${msg}\n`);

type Variant = 'off' | '1%' | '100%';
const VARIANTS: Variant[] = ['off', '1%', '100%'];
const ORDER: Variant[] = [...VARIANTS, ...VARIANTS.toReversed()];
const RATIO: Record<Variant, number> = { off: 0, '1%': 0.01, '100%': 1 };

// --- A collector that counts the spans it is sent ----------------------------------------------
let spansReceived = 0;
const collector = createHttpServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    spansReceived += (text.match(/"spanId"/g) ?? []).length;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

const tracingEnv = (v: Variant): Record<string, string> =>
  v === 'off'
    ? { OTEL_TRACES_EXPORTER: 'none' }
    : {
        OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: String(RATIO[v]),
      };

const traceparent = (sampled: boolean) =>
  `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}`;

// --- Processor -----------------------------------------------------------------------------------
const kafka = testKafka();
const run = uniqueName('bench-tracing');
const topics = { all: `${run}.traced-all`, some: `${run}.traced-1pct` };

const produceWorkload = async (topic: string, share: number): Promise<void> => {
  await createTestTopology(kafka, { events: topic }, { eventsPartitions: PARTITIONS });
  const events = generateWorkload({ users: USERS, events: EVENTS, seed: 11 });
  const producer = kafka.producer({ compression: 'lz4' });
  try {
    let every = 0;
    for (let i = 0; i < events.length; i += 2000) {
      const batch: OutgoingRecord[] = events.slice(i, i + 2000).map((e) => {
        every += share;
        const traced = every >= 1;
        if (traced) every -= 1;
        return { topic, key: e.userId, value: encodeEvent(e), headers: { traceparent: traceparent(traced) } };
      });
      await producer.send(batch);
    }
  } finally {
    await producer.close();
  }
};

const committedSum = async (group: string, topic: string): Promise<number> => {
  const c = await withAdmin(kafka, (a) => a.committedOffsets(group, topic));
  return [...c.values()].reduce((n, o) => n + o, 0);
};

const processorRun = async (v: Variant) => {
  const topic = v === '1%' ? topics.some : topics.all;
  const end = (await withAdmin(kafka, (a) => a.watermarks(topic))).reduce((n, w) => n + w.high, 0);
  const id = uniqueName(`bench-tracing-p${RATIO[v] * 100}`);
  const group = `${id}-group`;
  const spans0 = spansReceived;
  const service = startService(
    'processor',
    {
      EVENTS_TOPIC: topic,
      ALERTS_TOPIC: `${id}.alerts`,
      // Its own rules and shadow-alerts topics: never the real ones of this cluster.
      RULES_TOPIC: `${id}.alerts.rules`,
      SHADOW_ALERTS_TOPIC: `${id}.alerts.shadow`,
      DEAD_LETTER_TOPIC: `${id}.dlq`,
      PROCESSOR_CHANGELOG_TOPIC: `${id}.changelog`,
      PROCESSOR_GROUP_ID: group,
      PROCESSOR_INSTANCE_ID: 'bench',
      LOG_LEVEL: 'warn',
      ...tracingEnv(v),
    },
    `bench-tracing-processor-${RATIO[v] * 100}`,
  );
  try {
    let t0 = 0;
    let c0 = 0;
    await waitUntil(
      `the ${v} processor to commit the end of ${topic}`,
      async () => {
        if (service.child.exitCode !== null)
          throw new Error(`processor exited: ${service.log().slice(-1500)}`);
        const c = await committedSum(group, topic);
        if (t0 === 0 && c > 0) {
          t0 = performance.now();
          c0 = c;
        }
        return c >= end;
      },
      600_000,
      100,
    );
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1500)); // the last span batch
    return {
      variant: v,
      events: end - c0,
      seconds: Math.round(seconds * 100) / 100,
      eventsPerSec: Math.round((end - c0) / seconds),
      spans: spansReceived - spans0,
    };
  } finally {
    await service.stop();
    await withAdmin(kafka, (a) => a.deleteTopics([`${id}.alerts`, `${id}.dlq`, `${id}.changelog`])).catch(
      () => undefined,
    );
    await withAdmin(kafka, (a) => a.deleteGroups([group])).catch(() => undefined);
  }
};

// --- Gateway -------------------------------------------------------------------------------------
const TOKEN = `bench-${randomUUID()}`;
const stop = async (child: ChildProcess | undefined) => {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
};

const gatewayRun = async (v: Variant, redisUrl: string, topic: string) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const gateway = spawn(process.execPath, [join(ROOT, 'services/gateway/src/main.ts')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      GATEWAY_PORT: String(port),
      GATEWAY_TOKENS: `bench:${TOKEN}`,
      EVENTS_TOPIC: topic,
      REDIS_URL: redisUrl,
      GATEWAY_RATE_LIMIT_EVENTS_PER_SEC: '1000000000',
      LOG_LEVEL: 'warn',
      ...tracingEnv(v),
    },
  });
  try {
    await waitUntil(`the ${v} gateway`, async () => (await fetch(`${url}/readyz`)).ok, 30_000, 100);
    const scenario = `g${RATIO[v] * 100}-${randomUUID().slice(0, 6)}`;
    const template = `{"events":[${Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({
        eventId: `${scenario}-@@-${i}`,
        type: 'trade',
        userId: `user-${i % 97}`,
        ts: Date.now(),
        amount: 10 + i,
      }),
    ).join(',')}]}`;
    let n = 0;
    const spans0 = spansReceived;
    const result = await autocannon({
      url: `${url}/v1/events`,
      connections: 16,
      duration: SECONDS,
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: template.replaceAll('@@', String(n++)) }) }],
    });
    await new Promise((r) => setTimeout(r, 1500));
    const seconds = result.duration || SECONDS;
    return {
      variant: v,
      eventsPerSec: Math.round((result['2xx'] * 100) / seconds),
      requestsPerSec: Math.round(result['2xx'] / seconds),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
      non2xx: result.non2xx,
      spans: spansReceived - spans0,
    };
  } finally {
    await stop(gateway);
  }
};

// --- The run -------------------------------------------------------------------------------------
let redis: ChildProcess | undefined;
const gatewayTopic = `${run}.gateway`;
try {
  say(`producing ${EVENTS} events twice (sampled traceparent on every record, and on 1 %)`);
  await produceWorkload(topics.all, 1);
  await produceWorkload(topics.some, 0.01);
  say('processor warm-up (not measured)');
  await processorRun('off');
  const processor = [];
  for (const v of ORDER) {
    const r = await processorRun(v);
    say(
      `processor ${v.padStart(4)}: ${r.eventsPerSec} events/s (${r.events} events in ${r.seconds} s, ${r.spans} spans)`,
    );
    processor.push(r);
  }

  await createTestTopology(kafka, { events: gatewayTopic }, { eventsPartitions: PARTITIONS });
  const redisPort = await freePort();
  redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  say('gateway warm-up (not measured)');
  await gatewayRun('off', `redis://127.0.0.1:${redisPort}`, gatewayTopic);
  const gateway = [];
  for (const v of ORDER) {
    const r = await gatewayRun(v, `redis://127.0.0.1:${redisPort}`, gatewayTopic);
    say(
      `gateway   ${v.padStart(4)}: ${r.eventsPerSec} events/s (${r.requestsPerSec} requests/s, p99 ${r.latencyMs.p99} ms, ${r.spans} spans)`,
    );
    gateway.push(r);
  }

  const mean = (rows: { variant: Variant; eventsPerSec: number }[]) =>
    Object.fromEntries(
      VARIANTS.map((v) => {
        const of = rows.filter((r) => r.variant === v).map((r) => r.eventsPerSec);
        return [v, Math.round(of.reduce((x, y) => x + y, 0) / of.length)];
      }),
    ) as Record<Variant, number>;
  const rel = (means: Record<Variant, number>) =>
    Object.fromEntries(VARIANTS.map((v) => [v, Math.round((means[v] / means.off) * 1000) / 1000]));
  const processorMean = mean(processor);
  const gatewayMean = mean(gateway);
  const report = {
    at: new Date().toISOString(),
    kafka: { brokers: BROKERS, partitions: PARTITIONS },
    processor: {
      events: EVENTS,
      users: USERS,
      runs: processor,
      meanEventsPerSec: processorMean,
      relativeToOff: rel(processorMean),
    },
    gateway: {
      secondsPerVariant: SECONDS,
      batch: 100,
      connections: 16,
      runs: gateway,
      meanEventsPerSec: gatewayMean,
      relativeToOff: rel(gatewayMean),
    },
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `tracing-${report.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  say('mean events/s       off        1%      100%');
  for (const [name, means] of [
    ['processor', processorMean],
    ['gateway', gatewayMean],
  ] as const) {
    say(`${name.padEnd(15)} ${VARIANTS.map((v) => String(means[v]).padStart(9)).join(' ')}`);
  }
  say(`written ${file}`);
} finally {
  await stop(redis);
  await withAdmin(kafka, (a) => a.deleteTopics([topics.all, topics.some, gatewayTopic])).catch(
    () => undefined,
  );
  collector.close();
}
