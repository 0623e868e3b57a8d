// Benchmark of the sink against the real Kafka and ClickHouse, on its own topic and databases:
//   seed  — BENCH_EVENTS events (realistic shape, ~2,000 users) are produced to a fresh topic of
//           BENCH_PARTITIONS partitions before the sink starts
//   sink  — one sink instance (in-process, default config unless SINK_* is set) archives them:
//           rows/s from its start until `count()` of the table reaches BENCH_EVENTS, then checked
//           exactly with FINAL
//   bulk  — the same rows, serialised exactly as the sink sends them, inserted in one go with
//           `clickhouse-client ... FORMAT JSONEachRow` into an identically migrated database
//           (same tables, same materialized views): the rate ClickHouse itself can take them at
// Writes bench/results/sink.json and prints a summary; the goal is ≥ 100,000 events/s archived
// and ≥ 50 % of the bulk-insert rate. Sizes: BENCH_EVENTS (default 1,000,000), BENCH_PARTITIONS
// (default 6). CLICKHOUSE_TCP_PORT (default 9000) is the port clickhouse-client uses.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { queryRows, runStatement, sqlIdentifier, sqlTable } from '@tradewatch/shared/clickhouse';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { OutgoingRecord } from '@tradewatch/shared/kafka-port';
import { createLogger } from '@tradewatch/shared/logger';
import { encodeEventRow } from '../services/sink/src/archive-rows.ts';
import { loadSinkConfig } from '../services/sink/src/config.ts';
import { migrate } from '../services/sink/src/migration-runner.ts';
import { createSinkClickHouse, startSink } from '../services/sink/src/start-sink.ts';
import { createTestTopology, testPipeline } from '../test/support/harness.ts';
import { loadSinkBenchConfig } from './bench-config.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const cfg = loadSinkBenchConfig(process.env);
const EVENTS = cfg.events;
const PARTITIONS = cfg.partitions;
const TCP_PORT = cfg.clickhouseTcpPort;
// Topics, group and databases of its own: never the real ones of this cluster.
const pipeline = testPipeline('bench-sink');
const suffix = pipeline.id;
const names = {
  eventsTopic: pipeline.topics.events,
  sinkDb: pipeline.database,
  bulkDb: `${pipeline.database}_bulk`,
};

const log = createLogger('sink-bench', cfg.logLevel);
const env = {
  ...process.env,
  ...pipeline.env,
  STATS_INTERVAL_MS: '0',
};
const config = loadSinkConfig(env);
const kafka = createKafkaClient({ brokers: config.kafkaBrokers, clientId: 'sink-bench', logger: log });
const client = createSinkClickHouse(config);

/** The shape of real traffic: per user a login now and then, mostly trades, all fields used. */
const makeEvent = (i: number, now: number): GameEvent => {
  const userId = `player-${(i * 7919) % 2003}`;
  const base = {
    eventId: `bench-${suffix}-${i}`,
    userId,
    ts: now - (EVENTS - i),
    gameServerId: `gs-${i % 8}`,
    receivedAt: now,
  };
  if (i % 10 === 0) return { ...base, type: 'login', ip: `10.${i % 200}.${(i >> 8) % 250}.${i % 7}` };
  return {
    ...base,
    type: 'trade',
    amount: Math.round((1 + (i % 997) * 3.7) * 100) / 100,
    currency: 'gold',
    itemId: `item-${i % 500}`,
    counterpartyId: `player-${(i * 31) % 2003}`,
    ip: '192.0.2.10',
  };
};

// Events are generated from their index when needed, never held in one array: a million live
// objects in this process would slow the sink's garbage collector and skew its rate.
const seed = async (now: number): Promise<number> => {
  // The alerts topic stays empty: one partition.
  await createTestTopology(
    kafka,
    { events: names.eventsTopic, alerts: pipeline.topics.alerts, deadLetters: pipeline.topics.deadLetters },
    { eventsPartitions: PARTITIONS, partitions: { alerts: 1 } },
  );
  const producer = kafka.producer();
  const started = performance.now();
  const chunk = 5000;
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < EVENTS; i += chunk) {
    const messages: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(EVENTS, i + chunk); j++) {
      const e = makeEvent(j, now);
      messages.push({ topic: names.eventsTopic, key: e.userId, value: encodeEvent(e) });
    }
    inFlight.push(producer.send(messages));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await producer.close();
  return performance.now() - started;
};

const count = async (db: string, final = false): Promise<number> => {
  const [r] = await queryRows<{ c: string }>(
    client,
    `SELECT count() AS c FROM ${sqlTable(db, 'events')}${final ? ' FINAL' : ''}`,
  );
  return Number(r?.c ?? 0);
};

const runSink = async (): Promise<{
  ms: number;
  final: number;
  inserts: number;
  insertP50Ms: number;
  insertP99Ms: number;
}> => {
  await migrate(client, names.sinkDb, log); // schema time is not archive time
  const started = performance.now();
  const cpu = process.cpuUsage();
  const sink = await startSink(loadSinkConfig({ ...env, SINK_MIGRATE_ON_START: 'false' }), log);
  try {
    let n = 0;
    while (n < EVENTS) {
      await Promise.race([new Promise((r) => setTimeout(r, 50)), sink.failed]);
      n = await count(names.sinkDb);
    }
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    log.warn(
      { cpuMs: Math.round((used.user + used.system) / 1000), wallMs: Math.round(ms) },
      'sink phase cpu',
    );
    const latency = sink.stats.takeInsertLatency();
    return {
      ms,
      final: await count(names.sinkDb, true),
      inserts: sink.stats.inserts,
      insertP50Ms: latency.p50,
      insertP99Ms: latency.p99,
    };
  } finally {
    await sink.stop();
  }
};

const runBulk = async (now: number): Promise<{ ms: number; final: number; bytes: number }> => {
  await migrate(client, names.bulkDb, log);
  const file = join(tmpdir(), `sink-bench-${suffix}.jsonl`);
  const out = createWriteStream(file);
  let bytes = 0;
  for (let i = 0; i < EVENTS; i++) {
    const line = `${encodeEventRow(makeEvent(i, now))}\n`;
    bytes += line.length;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  try {
    const started = performance.now();
    const child = spawn(
      'clickhouse-client',
      [
        '--host',
        '127.0.0.1',
        '--port',
        String(TCP_PORT),
        '--query',
        `INSERT INTO ${sqlTable(names.bulkDb, 'events')} FORMAT JSONEachRow`,
      ],
      { stdio: ['pipe', 'inherit', 'inherit'] },
    );
    createReadStream(file).pipe(child.stdin);
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`clickhouse-client exited with ${code}`);
    return { ms: performance.now() - started, final: await count(names.bulkDb, true), bytes };
  } finally {
    rmSync(file, { force: true });
  }
};

const cleanUp = async () => {
  for (const db of [names.sinkDb, names.bulkDb])
    await runStatement(client, `DROP DATABASE IF EXISTS ${sqlIdentifier(db)}`);
  const admin = kafka.admin();
  await admin.deleteTopics(pipeline.allTopics).catch(() => undefined);
  await admin.close();
};

try {
  const loadBefore = loadavg();
  const now = Date.now();
  const seedMs = await seed(now);
  const sink = await runSink();
  const bulk = await runBulk(now);
  const sinkRate = Math.round((EVENTS / sink.ms) * 1000);
  const bulkRate = Math.round((EVENTS / bulk.ms) * 1000);
  const [server] = await queryRows<{ v: string }>(client, 'SELECT version() AS v');
  const result = {
    when: new Date().toISOString(),
    // Other work on the machine (load average before the run and after it) skews the rates.
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: Math.round(totalmem() / 2 ** 30),
      loadBefore: loadBefore.map((l) => Math.round(l * 100) / 100),
      loadAfter: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    clickhouse: server?.v,
    events: EVENTS,
    partitions: PARTITIONS,
    batch: config.batch,
    mappingWorkers: config.mappingWorkers,
    fetchMaxBytesPerPartition: config.maxBytesPerPartition,
    seed: { ms: Math.round(seedMs), eventsPerSec: Math.round((EVENTS / seedMs) * 1000) },
    sink: {
      ms: Math.round(sink.ms),
      rowsPerSec: sinkRate,
      rowsFinal: sink.final,
      inserts: sink.inserts,
      insertP50Ms: Math.round(sink.insertP50Ms),
      insertP99Ms: Math.round(sink.insertP99Ms),
    },
    bulk: {
      ms: Math.round(bulk.ms),
      rowsPerSec: bulkRate,
      rowsFinal: bulk.final,
      mib: Math.round(bulk.bytes / 2 ** 20),
    },
    ratio: Math.round((sinkRate / bulkRate) * 1000) / 1000,
    goals: { rowsPerSec: 100000, ratio: 0.5 },
  };
  if (sink.final !== EVENTS || bulk.final !== EVENTS)
    throw new Error(`row counts differ: ${JSON.stringify(result)}`);
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', 'sink.json'), `${JSON.stringify(result, null, 2)}\n`);
  const ok = (b: boolean) => (b ? 'ok' : 'BELOW GOAL');
  process.stdout.write(
    [
      `sink benchmark — ${EVENTS.toLocaleString('en')} events, ${PARTITIONS} partitions, ClickHouse ${result.clickhouse}, ${result.machine.cpus} CPUs`,
      `  seed (producer)               ${result.seed.eventsPerSec.toLocaleString('en').padStart(10)} events/s`,
      `  sink (Kafka → ClickHouse)     ${sinkRate.toLocaleString('en').padStart(10)} rows/s  in ${result.sink.ms} ms, ${sink.inserts} inserts  [${ok(sinkRate >= 100000)}: ≥ 100,000]`,
      `  bulk (clickhouse-client)      ${bulkRate.toLocaleString('en').padStart(10)} rows/s  in ${result.bulk.ms} ms`,
      `  ratio sink / bulk             ${(result.ratio * 100).toFixed(1).padStart(9)} %       [${ok(result.ratio >= 0.5)}: ≥ 50 %]`,
      `  load average before / after  ${result.machine.loadBefore[0]} / ${result.machine.loadAfter[0]} (other work skews the rates)`,
      `  written to bench/results/sink.json`,
      '',
    ].join('\n'),
  );
} finally {
  await cleanUp().catch((err: unknown) => log.error({ err }, 'clean-up failed'));
  await client.close();
}
