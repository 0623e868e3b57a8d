// Benchmark of the exactly-once processor against the real broker, on its own random topics:
//   store     — bytes per user of the state store holding BENCH_STORE_USERS full histories (in-process)
//   seed      — the changelog is filled with BENCH_USERS full histories (20 logins, 20 trades each),
//               the state a long-running processor holds; the events topic with BENCH_EVENTS events
//   baseline  — events/s of the same Kafka client's group consumer, same settings, doing nothing
//   process   — events/s of one processor instance (exactly-once), after restoring every user;
//               then its RSS and heap per user held
//   latency   — event appended → alert committed (read_committed), percentiles at BENCH_LATENCY_RATE/s
//   failover  — a second instance joins (restore rate), then the first is SIGKILLed: time until the
//               moved partitions commit events appended after the kill, and the restore rate
//   compare, peer, restart — one instance, the Kafka Streams peer and two instances on one topic of
//               ≥ 1M events over 40k users; a static member SIGKILLed / SIGTERMed and restarted at
//               once (bench/processor-compare.ts)
// Writes bench/results/processor.json and prints a summary. Sizes: BENCH_USERS, BENCH_EVENTS,
// BENCH_PARTITIONS, BENCH_STORE_USERS, BENCH_LATENCY_RATE, BENCH_LATENCY_SECONDS; BENCH_PHASES
// (comma list) runs a subset. PROCESSOR_* variables pass through to the processor processes.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { encodeEvent } from '@tradewatch/shared/events';
import type { KafkaClient, OutgoingRecord, Producer } from '@tradewatch/shared/kafka-port';

type Message = Omit<OutgoingRecord, 'topic'>;
import { eventsConsumerOptions, loadProcessorConfig } from '../services/processor/src/config.ts';
import { IpInterner } from '@tradewatch/shared/ip-interner';
import { encodeUserState } from '@tradewatch/shared/user-state-codec';
import { UserStateStore } from '@tradewatch/shared/user-state-store';
import {
  createTestTopology,
  produceFast,
  startService,
  testKafka,
  uniqueName,
  waitUntil,
  withAdmin,
  type RunningService,
} from '../test/support/harness.ts';
import { StreamingWorkload, type SyntheticHistory } from '../test/support/streaming-workload.ts';
import { loadProcessorBenchConfig } from './bench-config.ts';
import { runCompare } from './processor-compare.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const HISTORY = 20;
/** Records a request when the bench fills a topic as fast as it can. */
const SEED_CHUNK = 4000;

const { processorEnv: processorSettings, ...cfg } = loadProcessorBenchConfig(process.env);

/** A user's state as the processor stores it; the seen event ids are random 64-bit hashes. */
const toSnapshot = (h: SyntheticHistory, i: number) => ({
  sessionIp: h.sessionIp,
  pastIps: h.pastIps,
  amounts: h.amounts,
  eventHashes: Array.from(
    { length: 2 * HISTORY + 1 },
    (_, k) =>
      (BigInt(Math.imul(i + 1, 0x9e3779b1) >>> 0) << 32n) | BigInt(Math.imul(k + 1, 0x85ebca6b) >>> 0),
  ),
});

// ---------------------------------------------------------------------------------------------
// store: runs in a child process started with --expose-gc, so that heap numbers are exact.

const measureStore = (users: number, partitions: number) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const wl = new StreamingWorkload({ users, seed: cfg.seed, runId: 'store' });
  gc();
  const before = process.memoryUsage();
  const ips = new IpInterner();
  const stores = Array.from({ length: partitions }, () => new UserStateStore(HISTORY, ips));
  const started = performance.now();
  for (let i = 0; i < users; i++) {
    stores[i % partitions]!.load(wl.userId(i), toSnapshot(wl.historyOf(i, HISTORY), i));
  }
  const loadMs = performance.now() - started;
  gc();
  const after = process.memoryUsage();
  const per = (k: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers') => (after[k] - before[k]) / users;
  const held = stores.reduce((n, s) => n + s.size, 0);
  return {
    users: held,
    rssBytesPerUser: Math.round(per('rss')),
    heapBytesPerUser: Math.round(per('heapUsed')),
    typedArrayBytesPerUser: Math.round(per('arrayBuffers')),
    heapPlusTypedArraysPerUser: Math.round(per('heapUsed') + per('arrayBuffers')),
    loadUsersPerSec: Math.round(users / (loadMs / 1000)),
  };
};

if (process.argv[2] === '--store-memory') {
  process.stdout.write(`${JSON.stringify(measureStore(Number(process.argv[3]), Number(process.argv[4])))}\n`);
  process.exit(0);
}

const runStoreChild = (users: number): Promise<ReturnType<typeof measureStore>> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        fileURLToPath(import.meta.url),
        '--store-memory',
        String(users),
        String(cfg.partitions),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as ReturnType<typeof measureStore>)
        : reject(new Error(`store child exited ${code}`)),
    );
  });

// ---------------------------------------------------------------------------------------------
// Kafka helpers

const say = (msg: string) => process.stdout.write(`[processor-bench] ${msg}\n`);

const offsetsOf = async (kafka: KafkaClient, topic: string, groupId?: string): Promise<Map<number, number>> =>
  withAdmin(kafka, async (admin) => {
    const out = new Map<number, number>();
    if (groupId === undefined) {
      for (const o of await admin.watermarks(topic)) out.set(o.partition, o.high);
    } else {
      for (const [p, offset] of await admin.committedOffsets(groupId, topic)) out.set(p, Math.max(0, offset));
    }
    return out;
  });

const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** Produces workload events at a steady rate, each stamped with its send time, until stopped. */
class PacedProducer {
  sent = 0;
  private running = true;
  private readonly done: Promise<unknown>;
  constructor(producer: Producer, topic: string, wl: StreamingWorkload, rate: number) {
    // An error ends the loop and is reported by stop(), never as an unhandled rejection.
    this.done = (async () => {
      const started = Date.now();
      while (this.running) {
        const due = Math.floor(((Date.now() - started) * rate) / 1000) - this.sent;
        if (due > 0) {
          const now = Date.now();
          const messages: Message[] = [];
          for (let i = 0; i < due; i++) {
            const ev = wl.next(now);
            messages.push({ key: ev.userId, value: encodeEvent(ev) });
          }
          await producer.send(messages.map((m) => ({ topic, ...m })));
          this.sent += due;
        }
        await sleep(5);
      }
    })().then(
      () => undefined,
      (err: unknown) => err,
    );
  }
  async stop(): Promise<number> {
    this.running = false;
    const err = await this.done;
    if (err !== undefined)
      throw err instanceof Error ? err : new Error('paced producer failed', { cause: err });
    return this.sent;
  }
}

interface SeenAlert {
  partition: number;
  receivedAt: number;
  tradeTs: number;
  alertId: string;
}

const startAlertReader = async (kafka: KafkaClient, topic: string) => {
  const seen: SeenAlert[] = [];
  const reader = kafka.partitionReader({ maxWaitMs: 20 });
  reader.start((batch) => {
    const receivedAt = Date.now();
    for (const m of batch.records) {
      const a = decodeAlert(m.value!);
      seen.push({ partition: batch.partition, receivedAt, tradeTs: a.tradeTs, alertId: a.alertId });
    }
  });
  const partitions = await withAdmin(kafka, (admin) => admin.partitionCount(topic));
  for (let partition = 0; partition < partitions; partition++) reader.assign({ topic, partition }, 0);
  return { seen, stop: () => reader.close() };
};

// ---------------------------------------------------------------------------------------------
// processor processes

interface LogLine {
  msg?: string;
  time?: string;
  [k: string]: unknown;
}
const logLines = (s: RunningService): LogLine[] =>
  s
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
};

interface MetricsJson {
  usersHeld: number;
  memory: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  [k: string]: unknown;
}

const metricsOf = async (s: RunningService): Promise<MetricsJson | undefined> => {
  const line = logLines(s).find((l) => l.msg === 'metrics listening');
  if (line === undefined) return undefined;
  const res = await fetch(`http://127.0.0.1:${String(line.port)}/metrics.json`);
  return (await res.json()) as MetricsJson;
};

const assignedPartitions = (s: RunningService, after = 0): number[] | undefined => {
  const l = logLines(s)
    .filter((x) => x.msg === 'partitions assigned' && Date.parse(x.time ?? '') >= after)
    .at(-1);
  return l === undefined ? undefined : (l.partitions as number[]);
};

interface RestoreLine {
  partition: number;
  users: number;
  records: number;
  ms: number;
  endedAt: number;
}
const restoresOf = (s: RunningService, after = 0): RestoreLine[] =>
  logLines(s)
    .filter((l) => l.msg === 'partition restored' && Date.parse(l.time ?? '') >= after)
    .map((l) => ({
      partition: l.partition as number,
      users: l.users as number,
      records: l.records as number,
      ms: l.ms as number,
      endedAt: Date.parse(l.time!),
    }));

const restoreSummary = (r: RestoreLine[]) => {
  if (r.length === 0) return undefined;
  const users = r.reduce((n, x) => n + x.users, 0);
  const records = r.reduce((n, x) => n + x.records, 0);
  const startedAt = Math.min(...r.map((x) => x.endedAt - x.ms));
  const wallMs = Math.max(...r.map((x) => x.endedAt)) - startedAt;
  return {
    partitions: r.length,
    users,
    records,
    wallMs,
    usersPerSec: Math.round(users / (wallMs / 1000)),
    recordsPerSec: Math.round(records / (wallMs / 1000)),
  };
};

/** Like waitUntil, but fails at once when one of the processor processes has exited. */
const waitWhileAlive = <T>(
  what: string,
  procs: RunningService[],
  check: () => Promise<T> | T,
  timeoutMs: number,
  everyMs: number,
): Promise<NonNullable<T>> => {
  let dead: RunningService | undefined;
  return waitUntil(
    what,
    () => {
      dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
      return dead === undefined ? check() : (true as T);
    },
    timeoutMs,
    everyMs,
  ).then((v) => {
    if (dead !== undefined)
      throw new Error(`${dead.name} exited while waiting for ${what}: ${dead.log().slice(-3000)}`);
    return v;
  });
};

const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const id = uniqueName('bench-proc');
  const topics = {
    events: `${id}.events`,
    alerts: `${id}.alerts`,
    dlq: `${id}.dlq`,
    changelog: `tradewatch.${id}.changelog`,
  };
  const kafka = testKafka();
  const result: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), broker: 'same machine' },
    config: { ...cfg, phases: [...cfg.phases] },
    env: processorSettings,
  };
  const running: RunningService[] = [];
  const stoppers: (() => Promise<unknown>)[] = [];
  const extraTopics: string[] = [];
  const cleanUp = async () => {
    for (const s of running) {
      await Promise.race([s.stop(), sleep(20000)]);
      await s.kill();
    }
    for (const stop of stoppers) await stop().catch(() => undefined);
    await withAdmin(kafka, async (admin) => {
      await admin.deleteTopics([...Object.values(topics), ...extraTopics]).catch(() => undefined);
      for (const g of [id, `${id}.baseline`, `${id}-cmp1`, `${id}-cmp2`, `${id}-peer`]) {
        await admin.deleteGroups([g]).catch(() => undefined);
      }
    }).catch(() => undefined);
  };
  // Interrupted: still stop the processors and delete the topics, then exit.
  const onSignal = () => {
    say('interrupted: cleaning up');
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const processorEnv = {
    EVENTS_TOPIC: topics.events,
    ALERTS_TOPIC: topics.alerts,
    // Its own rules and shadow-alerts topics: never the real ones of this cluster.
    RULES_TOPIC: `${topics.alerts}.rules`,
    SHADOW_ALERTS_TOPIC: `${topics.alerts}.shadow`,
    DEAD_LETTER_TOPIC: topics.dlq,
    PROCESSOR_GROUP_ID: id,
    PROCESSOR_METRICS_PORT: '0',
    STATS_INTERVAL_MS: '5000',
  };
  const startProcessor = (label: string) => {
    const s = startService('processor', { ...processorEnv, PROCESSOR_INSTANCE_ID: label }, `bench-${label}`);
    running.push(s);
    return s;
  };

  try {
    if (cfg.phases.has('compare')) {
      const producer = kafka.producer();
      try {
        result.compare = await runCompare({
          kafka,
          producer,
          id,
          phases: cfg.phases,
          stoppers,
          running,
          topicsToDelete: extraTopics,
        });
      } finally {
        await producer.close();
      }
    }
    if (cfg.phases.has('store')) {
      say(`store: ${cfg.storeUsers} users with full history, in-process`);
      result.store = await runStoreChild(cfg.storeUsers);
      say(`store: ${JSON.stringify(result.store)}`);
    }
    const needKafka = ['baseline', 'process', 'latency', 'failover'].some((p) => cfg.phases.has(p));
    if (!needKafka) return result;

    await createTestTopology(
      kafka,
      { events: topics.events, alerts: topics.alerts, deadLetters: topics.dlq, changelog: topics.changelog },
      { eventsPartitions: cfg.partitions },
    );
    const producer = kafka.producer();
    stoppers.push(() => producer.close());
    const players = new StreamingWorkload({ users: cfg.users, seed: cfg.seed, runId: id });

    say(`seed: changelog with ${cfg.users} users (full histories), events topic with ${cfg.events} events`);
    const seedRate = await produceFast(
      producer,
      topics.changelog,
      cfg.users,
      (i) => ({
        key: players.userId(i),
        value: encodeUserState(toSnapshot(players.historyOf(i, HISTORY), i)),
      }),
      SEED_CHUNK,
    );
    const fillWl = new StreamingWorkload({ users: cfg.users, seed: cfg.seed, streamSeed: 1000, runId: id });
    const fillRate = await produceFast(
      producer,
      topics.events,
      cfg.events,
      () => {
        const ev = fillWl.next(Date.now());
        return { key: ev.userId, value: encodeEvent(ev) };
      },
      SEED_CHUNK,
    );
    const ends = await offsetsOf(kafka, topics.events);
    const total = sum(ends);
    result.seed = {
      changelogUsersPerSec: Math.round(seedRate),
      eventsPerSec: Math.round(fillRate),
      events: total,
      takeovers: fillWl.takeovers,
      duplicates: fillWl.duplicates,
    };
    say(`seed: ${JSON.stringify(result.seed)}`);

    const processorConfig = loadProcessorConfig({ ...process.env, ...processorEnv });
    if (cfg.phases.has('baseline')) {
      say('baseline: consume-only, same client and consumer settings');
      const consumer = kafka.groupConsumer({
        ...eventsConsumerOptions(processorConfig),
        groupId: `${id}.baseline`,
        groupInstanceId: `${id}.baseline`,
        startAt: 'committed',
        fallback: 'earliest',
      });
      let seen = 0;
      let first = 0;
      let last = 0;
      await consumer.start({
        onAssigned: () => undefined,
        onRevoked: () => undefined,
        onRecords: (batch) => {
          if (first === 0) first = performance.now();
          seen += batch.records.length;
          last = performance.now();
        },
      });
      await waitUntil('baseline to read every event', () => seen >= total, 600000, 50);
      await consumer.close();
      result.baseline = { events: seen, eventsPerSec: Math.round(seen / ((last - first) / 1000)) };
      say(`baseline: ${JSON.stringify(result.baseline)}`);
    }

    const needProcessor = ['process', 'latency', 'failover'].some((p) => cfg.phases.has(p));
    if (!needProcessor) return result;

    say('process: one instance restores every user, then processes the events topic');
    const a = startProcessor('a');
    let firstCommitAt = 0;
    let firstCommitted = 0;
    await waitWhileAlive(
      'processor a to catch up',
      [a],
      async () => {
        const c = sum(await offsetsOf(kafka, topics.events, id));
        if (c > 0 && firstCommitAt === 0) {
          firstCommitAt = performance.now();
          firstCommitted = c;
        }
        return c >= total;
      },
      1_200_000,
      100,
    );
    const doneAt = performance.now();
    const restoreA = restoreSummary(restoresOf(a));
    // From the first commit on; if that already covered everything (a small run), from the end of
    // the restore (log time), which includes the first fetch.
    const restoredAt = Math.max(...restoresOf(a).map((r) => r.endedAt));
    const processRate =
      firstCommitted < total
        ? (total - firstCommitted) / ((doneAt - firstCommitAt) / 1000)
        : total / ((Date.now() - (performance.now() - doneAt) - restoredAt) / 1000);
    await sleep(3000); // let the young generation settle before measuring memory
    const m = await metricsOf(a);
    const usersHeld = m?.usersHeld ?? restoreA?.users ?? cfg.users;
    const rss = rssOf(a.child.pid!);
    const processResult = {
      eventsPerSec: Math.round(processRate),
      ofBaseline:
        result.baseline === undefined
          ? undefined
          : Math.round((processRate / (result.baseline as { eventsPerSec: number }).eventsPerSec) * 100) /
            100,
      restore: restoreA,
      memory: {
        usersHeld,
        rssBytes: rss,
        rssBytesPerUser: Math.round(rss / usersHeld),
        heapUsedBytesPerUser: m === undefined ? undefined : Math.round(m.memory.heapUsed / usersHeld),
        heapPlusTypedArraysPerUser:
          m === undefined ? undefined : Math.round((m.memory.heapUsed + m.memory.arrayBuffers) / usersHeld),
      },
      metrics: m,
    };
    result.process = processResult;
    say(`process: ${JSON.stringify({ ...processResult, metrics: undefined })}`);

    const alerts = await startAlertReader(kafka, topics.alerts);
    stoppers.push(() => alerts.stop());

    if (cfg.phases.has('latency')) {
      say(`latency: ${cfg.latencyRate} events/s for ${cfg.latencySeconds} s`);
      const wl = new StreamingWorkload({
        users: cfg.users,
        seed: cfg.seed,
        streamSeed: 2000,
        runId: `${id}-lat`,
        takeoverRate: 0.1,
      });
      const from = Date.now() + 3000; // warm-up excluded
      const paced = new PacedProducer(producer, topics.events, wl, cfg.latencyRate);
      stoppers.unshift(() => paced.stop());
      await sleep(cfg.latencySeconds * 1000);
      const to = Date.now();
      const sent = await paced.stop();
      await sleep(3000);
      const lat = alerts.seen
        .filter((x) => x.tradeTs >= from && x.tradeTs <= to)
        .map((x) => x.receivedAt - x.tradeTs)
        .sort((x, y) => x - y);
      const mm = await metricsOf(a);
      result.latency = {
        rate: Math.round(sent / ((to - from + 3000) / 1000)),
        alerts: lat.length,
        p50Ms: percentile(lat, 0.5),
        p90Ms: percentile(lat, 0.9),
        p99Ms: percentile(lat, 0.99),
        maxMs: lat.at(-1),
        commitLatency: mm?.commitLatencyMs,
      };
      say(`latency: ${JSON.stringify(result.latency)}`);
    }

    if (cfg.phases.has('failover')) {
      say(
        `failover: a second instance joins under ${cfg.failoverRate} events/s, then the first is SIGKILLed`,
      );
      const wl = new StreamingWorkload({
        users: cfg.users,
        seed: cfg.seed,
        streamSeed: 3000,
        runId: `${id}-fo`,
        takeoverRate: 0.1,
      });
      const paced = new PacedProducer(producer, topics.events, wl, cfg.failoverRate);
      stoppers.unshift(() => paced.stop());
      const joinedAt = Date.now();
      const b = startProcessor('b');
      const bParts = await waitWhileAlive(
        'b to restore its partitions',
        [a, b],
        () => {
          const parts = assignedPartitions(b);
          const restored = new Set(restoresOf(b).map((r) => r.partition));
          return parts !== undefined && parts.length > 0 && parts.every((p) => restored.has(p))
            ? parts
            : undefined;
        },
        300000,
        200,
      );
      const scaleRestore = restoreSummary(restoresOf(b, joinedAt));
      say(`failover: b restored partitions ${bParts.join(',')}: ${JSON.stringify(scaleRestore)}`);
      // Both instances committing again: every partition's committed offset moves within 2 s.
      await waitWhileAlive(
        'both instances to commit',
        [a, b],
        async () => {
          const before = await offsetsOf(kafka, topics.events, id);
          await sleep(2000);
          const now = await offsetsOf(kafka, topics.events, id);
          return [...now].every(([p, o]) => o > (before.get(p) ?? 0));
        },
        120000,
        0,
      );
      const moved = assignedPartitions(a, joinedAt) ?? [];
      const rssB = rssOf(b.child.pid!);
      await a.kill();
      const killedAt = Date.now();
      const high = await offsetsOf(kafka, topics.events);
      const flowingAt = new Map<number, number>();
      await waitWhileAlive(
        'the moved partitions to commit events appended after the kill',
        [b],
        async () => {
          const c = await offsetsOf(kafka, topics.events, id);
          for (const p of moved) {
            if (!flowingAt.has(p) && (c.get(p) ?? 0) > (high.get(p) ?? 0)) flowingAt.set(p, Date.now());
          }
          return flowingAt.size === moved.length;
        },
        180000,
        100,
      );
      await sleep(1000);
      const reassignedAt = logLines(b)
        .filter((l) => l.msg === 'partitions assigned' && Date.parse(l.time ?? '') >= killedAt)
        .map((l) => Date.parse(l.time!))
        .at(0);
      const alertAfter = moved.map((p) => {
        const first = alerts.seen.find((x) => x.partition === p && x.tradeTs >= killedAt);
        return first === undefined ? undefined : first.receivedAt - killedAt;
      });
      result.failover = {
        sessionTimeoutMs: processorConfig.sessionTimeoutMs,
        movedPartitions: moved,
        rebalancedAfterMs: reassignedAt === undefined ? undefined : reassignedAt - killedAt,
        restore: restoreSummary(restoresOf(b, killedAt)),
        commitsFlowAfterMs: Math.max(...[...flowingAt.values()].map((t) => t - killedAt)),
        alertsFlowAfterMs: alertAfter.every((x) => x !== undefined) ? Math.max(...alertAfter) : undefined,
        scaleOutRestore: scaleRestore,
        rssOfBBeforeKill: rssB,
      };
      say(`failover: ${JSON.stringify(result.failover)}`);
      await paced.stop();
      await b.stop();
    }
    return result;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await cleanUp();
  }
};

const summary = (r: Record<string, unknown>): string => {
  const g = (path: string): unknown =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r);
  const line = (label: string, value: unknown, goal: string) =>
    `  ${label.padEnd(44)} ${(typeof value === 'number' ? String(value) : '—').padStart(12)}   ${goal}`;
  return [
    'processor benchmark',
    line('compare: one instance events/s', g('compare.oneInstance.eventsPerSec'), ''),
    line('compare: Kafka Streams peer events/s', g('compare.peer.eventsPerSec'), ''),
    line('compare: one instance / peer', g('compare.ratios.oneVsPeer'), 'goal ≥ 1.5'),
    line('compare: two instances events/s', g('compare.twoInstances.eventsPerSec'), ''),
    line('compare: two / one instance', g('compare.ratios.twoVsOne'), 'goal ≥ 1.6'),
    line(
      'restart after SIGKILL: commits flow after ms',
      g('compare.restart.SIGKILL.commitsFlowAfterMs'),
      'goal ≤ 5000',
    ),
    line(
      '  … other instance longest commit gap ms',
      g('compare.restart.SIGKILL.otherInstanceLongestCommitGapMs'),
      '',
    ),
    line('restart after SIGTERM: commits flow after ms', g('compare.restart.SIGTERM.commitsFlowAfterMs'), ''),
    line(
      '  … other instance longest commit gap ms',
      g('compare.restart.SIGTERM.otherInstanceLongestCommitGapMs'),
      '',
    ),
    line('store bytes/user (heap + typed arrays)', g('store.heapPlusTypedArraysPerUser'), 'goal ≤ 1024'),
    line('process RSS bytes/user', g('process.memory.rssBytesPerUser'), 'goal ≤ 1024'),
    line('consume-only baseline events/s', g('baseline.eventsPerSec'), ''),
    line('processor events/s (exactly-once)', g('process.eventsPerSec'), 'goal ≥ 50000'),
    line('processor / baseline', g('process.ofBaseline'), 'goal ≥ 0.70'),
    line('restore users/s (1 instance, all users)', g('process.restore.usersPerSec'), 'goal ≥ 100000'),
    line('latency p50 ms', g('latency.p50Ms'), ''),
    line('latency p99 ms', g('latency.p99Ms'), 'goal < 250'),
    line('failover: commits flow again after ms', g('failover.commitsFlowAfterMs'), 'goal ≤ 15000'),
    line('failover: alerts flow again after ms', g('failover.alertsFlowAfterMs'), ''),
    line('failover: restore users/s', g('failover.restore.usersPerSec'), 'goal ≥ 100000'),
  ].join('\n');
};

const result = await main();
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', 'processor.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${summary(result)}\n(bench/results/processor.json)\n`);
process.exit(0);
