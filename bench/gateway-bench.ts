// Gateway throughput benchmark (npm run bench): events per second accepted over HTTP (202 only)
// with batches of 1, 100 and 1000 events, p50/p99 latency; the same through the integrators'
// client (packages/client) with its default batching, called once per event and with arrays of
// 100; and the rate of the raw Kafka producer (the same Kafka adapter and idempotent, acks=all,
// lz4 producer the gateway uses) and of kcat's (librdkafka, idempotent, acks=all, lz4) measured
// in the same run against the same broker. The gateway runs as its own process; autocannon drives it over
// loopback. Redis is a private redis-server started (and stopped, by pid) here, so that millions
// of idempotency keys never land in the shared one. Writes bench/results/gateway-<time>.json.
//
//   node bench/gateway-bench.ts            BENCH_SECONDS=10 by default per scenario
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { pino } from 'pino';
import { TradewatchClient, type EventOutcome, type GameEvent } from '../packages/client/src/index.ts';
import { createKafkaClient } from '../shared/src/kafka-client.ts';
import { ensureTopology } from '../shared/src/topology.ts';
import { freePort } from '../test/support/harness.ts';
import { loadGatewayBenchConfig } from './bench-config.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const cfg = loadGatewayBenchConfig(process.env);
const SECONDS = cfg.secondsPerScenario;
const BROKERS = cfg.kafkaBrokers.join(',');
const LOG_LEVEL = cfg.gatewayLogLevel;
const TOKEN = `bench-${randomUUID()}`;
const RUN = randomUUID().slice(0, 8);
const TOPIC = `bench-gateway-${RUN}`;
const PARTITIONS = 3;
const GOAL_EVENTS_PER_SEC = 100_000;
const GOAL_RATIO = 0.6;

const log = pino({ level: 'warn' });

const until = async (what: string, ms: number, cond: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const stopChild = async (child: ChildProcess | undefined): Promise<void> => {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
};

/**
 * One trade event as JSON, with `@@` where the request number goes. Ids are unique per scenario:
 * a scenario reusing another's ids with another ts would be answered 409 (before the gateway
 * compared content, 202 duplicates that published nothing, counted as throughput).
 */
const eventJson = (i: number, scenario = 'raw') =>
  JSON.stringify({
    eventId: `b${RUN}-${scenario}-@@-${i}`,
    type: 'trade',
    userId: `user-${i % 97}`,
    ts: Date.now(),
    amount: 10 + i,
    ip: '203.0.113.9',
  });

const bodyTemplate = (batch: number, scenario: string) =>
  batch === 1
    ? eventJson(0, scenario)
    : `{"events":[${Array.from({ length: batch }, (_, i) => eventJson(i, scenario)).join(',')}]}`;

interface Scenario {
  batch: number;
  connections: number;
  eventsPerSec: number;
  requestsPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

let scenarios = 0;
const httpScenario = async (url: string, batch: number, connections: number): Promise<Scenario> => {
  const template = bodyTemplate(batch, `s${scenarios++}`);
  let n = 0;
  const result = await autocannon({
    url: `${url}/v1/events`,
    connections,
    duration: SECONDS,
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: template.replaceAll('@@', String(n++)) }),
      },
    ],
  });
  const ok = result['2xx'];
  return {
    batch,
    connections,
    eventsPerSec: Math.round((ok * batch) / (result.duration || SECONDS)),
    requestsPerSec: Math.round(ok / (result.duration || SECONDS)),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
};

interface ClientScenario {
  eventsPerCall: number;
  eventsPerSec: number;
  accepted: number;
  notAccepted: number;
  requests: number;
  retries: number;
  meanEventsPerRequest: number;
}

/**
 * The client with its defaults (batchSize 500, lingerMs 10, 8 lanes), called as a game server
 * would: `send` with `eventsPerCall` events at a time, without waiting, for SECONDS; events
 * without eventId (the client makes them). Events/s counts the accepted ones over the time until
 * the last of them was confirmed (close() included).
 */
const clientScenario = async (url: string, eventsPerCall: number): Promise<ClientScenario> => {
  const client = new TradewatchClient({ url, token: TOKEN });
  let accepted = 0;
  let notAccepted = 0;
  const count = (outcomes: EventOutcome[]) => {
    for (const o of outcomes) {
      if (o.status === 'accepted') accepted++;
      else notAccepted++;
    }
  };
  let i = 0;
  const event = (): GameEvent => ({
    type: 'trade',
    userId: `user-${i % 97}`,
    ts: Date.now(),
    amount: 10 + (i++ % 1000),
    ip: '203.0.113.9',
  });
  const started = Date.now();
  const end = started + SECONDS * 1000;
  while (Date.now() < end) {
    for (let k = 0; k < 1000 / eventsPerCall; k++) {
      void client
        .send(eventsPerCall === 1 ? event() : Array.from({ length: eventsPerCall }, event))
        .then(count);
    }
    // The client bounds what is pending; stay under its bound rather than meet queue_full.
    while (client.stats().pending > 50_000) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setImmediate(r));
  }
  await client.close();
  const seconds = (Date.now() - started) / 1000;
  const { requests, retries } = client.stats();
  return {
    eventsPerCall,
    eventsPerSec: Math.round(accepted / seconds),
    accepted,
    notAccepted,
    requests,
    retries,
    meanEventsPerRequest: Math.round(accepted / Math.max(1, requests)),
  };
};

/** The raw producer: `concurrency` loops each sending batches of `batch` messages, for SECONDS. */
const rawProducer = async (batch: number, concurrency: number) => {
  const kafka = createKafkaClient({ brokers: cfg.kafkaBrokers, clientId: 'bench-raw-producer', logger: log });
  const producer = kafka.producer({ compression: 'lz4' });
  const values = Array.from({ length: batch }, (_, i) => eventJson(i).replace('@@', 'raw'));
  let sent = 0;
  const started = Date.now();
  const end = started + SECONDS * 1000;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < end) {
          await producer.send(values.map((value, i) => ({ topic: TOPIC, key: `user-${i % 97}`, value })));
          sent += batch;
        }
      }),
    );
  } finally {
    await producer.close();
  }
  return { batch, concurrency, eventsPerSec: Math.round(sent / ((Date.now() - started) / 1000)) };
};

/** kcat's producer (librdkafka: idempotent, acks=all, lz4, Java's partitioner) on `count` events. */
const kcatProducer = async (count: number) => {
  const file = join(tmpdir(), `bench-gateway-kcat-${RUN}.txt`);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`user-${i % 97}\t${eventJson(i).replace('@@', 'kcat')}`);
  await writeFile(file, `${lines.join('\n')}\n`);
  const started = Date.now();
  try {
    execFileSync('kcat', [
      '-P',
      '-b',
      BROKERS,
      '-t',
      TOPIC,
      '-z',
      'lz4',
      '-K',
      '\t',
      '-l',
      file,
      '-X',
      'enable.idempotence=true',
      '-X',
      'acks=all',
      '-X',
      'partitioner=murmur2_random',
      '-X',
      'linger.ms=5',
    ]);
  } finally {
    await rm(file, { force: true });
  }
  return { events: count, eventsPerSec: Math.round(count / ((Date.now() - started) / 1000)) };
};

let redis: ChildProcess | undefined;
let gateway: ChildProcess | undefined;
const kafka = createKafkaClient({ brokers: cfg.kafkaBrokers, clientId: 'bench-admin', logger: log });
const admin = kafka.admin();
try {
  await ensureTopology(admin, { events: TOPIC }, { eventsPartitions: PARTITIONS });

  const redisPort = await freePort();
  redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const gatewayPort = await freePort();
  const url = `http://127.0.0.1:${gatewayPort}`;
  // BENCH_GATEWAY_CPU_PROF=<dir>: the gateway writes a V8 CPU profile of the whole run there.
  const profile = cfg.gatewayCpuProfileDir;
  const nodeArgs = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  gateway = spawn(process.execPath, [...nodeArgs, join(ROOT, 'services/gateway/src/main.ts')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_TOKENS: `bench:${TOKEN}`,
      KAFKA_BROKERS: BROKERS,
      EVENTS_TOPIC: TOPIC,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      GATEWAY_RATE_LIMIT_EVENTS_PER_SEC: '1000000000',
      LOG_LEVEL,
    },
  });
  await until('the gateway', 30_000, async () => (await fetch(`${url}/readyz`)).status === 200);

  // Warm-up, not measured.
  await httpScenario(url, 100, 16).catch(() => undefined);
  const http: Scenario[] = [];
  for (const [batch, connections] of [
    [1, 64],
    [100, 32],
    [1000, 8],
  ] as const) {
    http.push(await httpScenario(url, batch, connections));
  }
  const client = [await clientScenario(url, 1), await clientScenario(url, 100)];
  const raw = [await rawProducer(100, 32), await rawProducer(1000, 8)];
  const kcat = await kcatProducer(cfg.kcatEvents);

  const b100 = http.find((s) => s.batch === 100)!;
  const raw100 = raw.find((r) => r.batch === 100)!;
  const ratio = b100.eventsPerSec / raw100.eventsPerSec;
  const bestHttp = Math.max(...http.map((s) => s.eventsPerSec));
  const report = {
    at: new Date().toISOString(),
    secondsPerScenario: SECONDS,
    kafka: { brokers: BROKERS, topic: TOPIC, partitions: PARTITIONS },
    gatewayLogLevel: LOG_LEVEL,
    http,
    client,
    clientToBestHttp: client.map((c) => Math.round((c.eventsPerSec / bestHttp) * 1000) / 1000),
    rawProducer: raw,
    kcatProducer: kcat,
    ratioBatch100ToKcat: Math.round((b100.eventsPerSec / kcat.eventsPerSec) * 1000) / 1000,
    ratioBatch100ToRawProducer: Math.round(ratio * 1000) / 1000,
    goals: {
      eventsPerSecBatch100: { goal: GOAL_EVENTS_PER_SEC, met: b100.eventsPerSec >= GOAL_EVENTS_PER_SEC },
      ratioToRawProducer: { goal: GOAL_RATIO, met: ratio >= GOAL_RATIO },
    },
  };
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, `bench/results/gateway-${report.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');

  const line = (cells: (string | number)[]) => cells.map((c) => String(c).padStart(12)).join('');
  const out = [
    `gateway benchmark, ${SECONDS} s per scenario, topic ${TOPIC} (${PARTITIONS} partitions), gateway LOG_LEVEL=${LOG_LEVEL}`,
    line(['batch', 'conns', 'events/s', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors']),
    ...http.map((s) =>
      line([
        s.batch,
        s.connections,
        s.eventsPerSec,
        s.requestsPerSec,
        s.latencyMs.p50,
        s.latencyMs.p99,
        s.non2xx,
        s.errors,
      ]),
    ),
    ...client.map(
      (c) =>
        `client, default batching, send() with ${c.eventsPerCall} event(s) per call: ${c.eventsPerSec} events/s ` +
        `(${c.meanEventsPerRequest} events per request, ${c.retries} retries, ${c.notAccepted} not accepted; ` +
        `${((c.eventsPerSec / bestHttp) * 100).toFixed(1)}% of the best HTTP scenario)`,
    ),
    ...raw.map(
      (r) =>
        `raw producer, batches of ${r.batch} x ${r.concurrency} concurrent sends: ${r.eventsPerSec} events/s`,
    ),
    `kcat producer (idempotent, acks=all, lz4): ${kcat.eventsPerSec} events/s`,
    `batch 100 over HTTP / raw producer (batch 100): ${(ratio * 100).toFixed(1)}% (goal ${GOAL_RATIO * 100}%)`,
    `batch 100 over HTTP: ${b100.eventsPerSec} events/s (goal ${GOAL_EVENTS_PER_SEC}) ${report.goals.eventsPerSecBatch100.met ? 'met' : 'NOT met'}`,
    `written to ${file}`,
  ];
  process.stdout.write(out.join('\n') + '\n');
} finally {
  await stopChild(gateway);
  await stopChild(redis);
  await admin.deleteTopics([TOPIC]).catch(() => undefined);
  await admin.close();
}
