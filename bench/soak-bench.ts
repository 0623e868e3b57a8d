// Soak of the whole pipeline on a private three-broker cluster (replication 3,
// min.insync.replicas=2): the gateway, two processors and the sink, fed by game servers that post
// batches and retry 503s with the same eventIds.
//
//   capacity  the game servers post as fast as they are answered for SOAK_CAPACITY_SECONDS (45);
//             capacity = the lower of the rate the gateway accepted and the rate the processors
//             committed, over the phase's second half
//   soak      SOAK_MINUTES (30) at SOAK_LOAD (0.5) of that capacity; every SOAK_BROKER_EVERY_MIN
//             (5) one broker (in turn 1, 2, 3) is SIGKILLed and started again
//             SOAK_BROKER_DOWN_SECONDS (30) later; every SOAK_PROCESSOR_EVERY_MIN (7) one processor
//             (in turn) is SIGKILLed and started again at once with the same instance id
//   check     the exact comparison of the chaos tests (test/support/chaos-pipeline.ts): events
//             topic, alerts topic and archive against the reference rule over the accepted events
//
// SOAK_GAME_SERVERS (24) game servers post batches of SOAK_BATCH (200) events, one at a time each.
// Every SOAK_SAMPLE_SECONDS (10) it samples the resident memory of every service and broker; per
// minute it reports the events accepted, 503s, POST latency p50/p99 and the latency from a
// trade's first POST to its alert being committed (p50/p99). Writes bench/results/soak.json and
// prints one line a minute and a summary. Shorter runs for trying it: SOAK_MINUTES=3
// SOAK_BROKER_EVERY_MIN=1 SOAK_PROCESSOR_EVERY_MIN=2.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { withAdmin } from '../test/support/harness.ts';
import { loadSoakBenchConfig } from './bench-config.ts';
import { KafkaCluster, NODE_IDS } from '../test/support/kafka-cluster.ts';
import {
  IngestLoop,
  assertExactlyOnce,
  startChaosPipeline,
  watchAlerts,
  type ChaosPipeline,
} from '../test/support/chaos-pipeline.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

// The run keeps every accepted event for the final comparison: give it the heap for that.
const HEAP_MB = 12288;
if (getHeapStatistics().heap_size_limit < (HEAP_MB / 2) * 1024 * 1024) {
  const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MB}`, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const cfg = loadSoakBenchConfig(process.env);
const MINUTES = cfg.minutes;
const LOAD = cfg.load;
const CAPACITY_SECONDS = cfg.capacitySeconds;
const BROKER_EVERY_MS = cfg.brokerEveryMin * 60000;
const BROKER_DOWN_MS = cfg.brokerDownSeconds * 1000;
const PROCESSOR_EVERY_MS = cfg.processorEveryMin * 60000;
const SAMPLE_MS = cfg.sampleSeconds * 1000;
const LOOPS = cfg.gameServers;
const BATCH = cfg.batch;

const percentile = (xs: number[], p: number): number | null => {
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
};

/** Resident memory of a process, MiB (null once it is gone). */
const rssMiB = (pid: number | undefined): number | null => {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Math.round(Number(m[1]) / 1024);
  } catch {
    return null;
  }
};

const committedTotal = async (p: ChaosPipeline): Promise<number> => {
  const offsets = await withAdmin(p.kafka, (admin) =>
    admin.committedOffsets(p.processorGroup, p.topics.events),
  );
  return [...offsets.values()].reduce((s, o) => s + o, 0);
};

const acceptedEventCount = (loops: readonly IngestLoop[], from: number, to: number): number =>
  loops
    .flatMap((l) => l.accepted)
    .filter((b) => b.acceptedAt >= from && b.acceptedAt < to)
    .reduce((n, b) => n + b.events.length, 0);

interface Fault {
  at: number;
  what: string;
  /** Until 202s came again for POSTs sent after the fault, ms. */
  gatewayRecoveryMs?: number;
}

const main = async () => {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`soak: ${MINUTES} min at ${LOAD * 100}% of capacity, three brokers, ${cpus().length} CPUs`);
  const cluster = await KafkaCluster.start();
  let p: ChaosPipeline | undefined;
  const faults: Fault[] = [];
  try {
    p = await startChaosPipeline(cluster, { name: 'soak', processors: 2 });
    const pipeline = p;
    const watcher = watchAlerts(pipeline.kafka, pipeline.topics.alerts);
    const loops = Array.from(
      { length: LOOPS },
      (_, i) =>
        new IngestLoop({
          gatewayUrl: pipeline.gatewayUrl,
          name: `soak-gs${i + 1}`,
          seed: i + 1,
          users: 400,
          batchSize: BATCH,
          intervalMs: 0,
        }),
    );
    for (const l of loops) l.start();

    // --- capacity
    const c0 = Date.now();
    await sleep((CAPACITY_SECONDS * 1000) / 2);
    const c1 = Date.now();
    const committed1 = await committedTotal(pipeline);
    await sleep((CAPACITY_SECONDS * 1000) / 2);
    const c2 = Date.now();
    const committed2 = await committedTotal(pipeline);
    const acceptedRate = (acceptedEventCount(loops, c1, c2) * 1000) / (c2 - c1);
    const committedRate = ((committed2 - committed1) * 1000) / (c2 - c1);
    const capacity = Math.min(acceptedRate, committedRate);
    const rate = capacity * LOAD;
    for (const l of loops) l.pace(rate / LOOPS);
    log(
      `capacity: gateway accepted ${Math.round(acceptedRate)} events/s, processors committed ` +
        `${Math.round(committedRate)} offsets/s (${Math.round((c2 - c0) / 1000)} s); soaking at ${Math.round(rate)} events/s`,
    );

    // --- soak
    const start = Date.now();
    const end = start + MINUTES * 60000;
    const memory: { t: number; rssMiB: Record<string, number | null> }[] = [];
    const sampleMemory = () => {
      const rss: Record<string, number | null> = {};
      for (const s of pipeline.services) rss[s.name.replace(/^soak-/, '')] = rssMiB(s.child.pid);
      for (const n of NODE_IDS) {
        let pid: number | undefined;
        try {
          pid = cluster.pid(n);
        } catch {
          pid = undefined;
        }
        rss[`kafka-${n}`] = cluster.reachable().includes(n) ? rssMiB(pid) : null;
      }
      memory.push({ t: Math.round((Date.now() - start) / 1000), rssMiB: rss });
    };
    sampleMemory();
    const sampler = setInterval(sampleMemory, SAMPLE_MS);

    let brokerTurn = 0;
    let processorTurn = 0;
    let nextBroker = start + BROKER_EVERY_MS;
    let nextProcessor = start + PROCESSOR_EVERY_MS;
    const restarts: Promise<void>[] = [];
    const killed: string[] = [];
    let minute = 0;
    const minutes: Record<string, unknown>[] = [];
    const report = (from: number, to: number) => {
      const attempts = loops.flatMap((l) => l.attempts).filter((a) => a.endedAt >= from && a.endedAt < to);
      const ok = attempts.filter((a) => a.status === 202).map((a) => a.endedAt - a.startedAt);
      const firstPost = new Map<string, number>();
      for (const l of loops)
        for (const b of l.accepted)
          if (b.acceptedAt >= from - 120000)
            for (const e of b.events) firstPost.set(String(e.eventId), b.firstAttemptAt);
      const alertLatency = watcher.alerts
        .filter((s) => s.seenAt >= from && s.seenAt < to)
        .map((s) => s.seenAt - (firstPost.get(s.alert.tradeEventId) ?? s.seenAt));
      const row = {
        minute: minute + 1,
        accepted: acceptedEventCount(loops, from, to),
        unavailable503: attempts.filter((a) => a.status === 503).length,
        noAnswer: attempts.filter((a) => a.status === 0).length,
        postP50Ms: percentile(ok, 50),
        postP99Ms: percentile(ok, 99),
        alerts: alertLatency.length,
        alertP50Ms: percentile(alertLatency, 50),
        alertP99Ms: percentile(alertLatency, 99),
        faults: faults.filter((f) => f.at >= from && f.at < to).map((f) => f.what),
        rssMiB: memory.at(-1)?.rssMiB,
      };
      minutes.push(row);
      log(
        `min ${String(row.minute).padStart(2)}  accepted ${String(row.accepted).padStart(7)}  503 ${String(row.unavailable503).padStart(4)}` +
          `  POST p50/p99 ${row.postP50Ms}/${row.postP99Ms} ms  alert p50/p99 ${row.alertP50Ms}/${row.alertP99Ms} ms` +
          `  ${row.faults.join(', ')}`,
      );
    };
    while (Date.now() < end) {
      const now = Date.now();
      if (now >= nextBroker) {
        nextBroker += BROKER_EVERY_MS;
        const node = NODE_IDS[brokerTurn++ % NODE_IDS.length]!;
        const fault: Fault = { at: Date.now(), what: `kafka-${node} killed` };
        faults.push(fault);
        await cluster.kill(node);
        restarts.push(
          (async () => {
            await sleep(BROKER_DOWN_MS);
            await cluster.restart(node);
            faults.push({ at: Date.now(), what: `kafka-${node} restarted` });
          })(),
        );
      }
      if (now >= nextProcessor) {
        nextProcessor += PROCESSOR_EVERY_MS;
        const processors = pipeline.services.filter((s) => s.name.includes('-processor-'));
        const victim = processors[processorTurn++ % processors.length]!;
        faults.push({ at: Date.now(), what: `${victim.name.replace(/^soak-/, '')} killed and restarted` });
        // The pipeline's supervisor starts it again at once, with the same instance id.
        killed.push(victim.name);
        await victim.kill();
      }
      const minuteEnd = start + (minute + 1) * 60000;
      if (Date.now() >= minuteEnd) {
        report(minuteEnd - 60000, minuteEnd);
        minute++;
      }
      await sleep(200);
    }
    // The last minute ends with the soak itself.
    if (minute < Math.ceil(MINUTES)) report(start + minute * 60000, end);
    await Promise.all(restarts);
    clearInterval(sampler);
    sampleMemory();
    for (const f of faults) {
      const next = loops
        .flatMap((l) => l.attempts)
        .filter((a) => a.status === 202 && a.startedAt >= f.at)
        .reduce((m, a) => Math.min(m, a.endedAt), Infinity);
      f.gatewayRecoveryMs = next - f.at;
    }

    // --- check
    await Promise.all(loops.map((l) => l.stop()));
    await watcher.stop();
    const batches = loops.flatMap((l) => l.accepted);
    const checkStart = Date.now();
    let exact: unknown;
    let failure: string | undefined;
    try {
      exact = await assertExactlyOnce(pipeline, batches);
    } catch (err) {
      failure = (err as Error).message;
    }
    // The supervisor records the deliberate kills as crashes too: only the rest are unexpected.
    const deliberate = new Map<string, number>();
    for (const name of killed) deliberate.set(name, (deliberate.get(name) ?? 0) + 1);
    const crashes = pipeline.crashes().filter((c) => {
      const n = deliberate.get(c.name) ?? 0;
      if (n === 0) return true;
      deliberate.set(c.name, n - 1);
      return false;
    });
    const first = memory[1] ?? memory[0]!;
    const last = memory.at(-1)!;
    const result = {
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg() },
      settings: { MINUTES, LOAD, BROKER_EVERY_MS, BROKER_DOWN_MS, PROCESSOR_EVERY_MS, LOOPS, BATCH },
      capacity: { acceptedRate, committedRate, soakRate: rate },
      minutes,
      memory,
      faults,
      unexpectedCrashes: crashes.map((c) => `${c.name} exit ${c.code}: ${c.lastErrors.join(' | ')}`),
      check: { ms: Date.now() - checkStart, exact, failure },
    };
    const dir = join(HERE, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
    log('\nsoak summary');
    log(`  events accepted        ${batches.reduce((n, b) => n + b.events.length, 0)}`);
    log(`  faults                 ${faults.length} (${faults.map((f) => f.what).join('; ')})`);
    log(
      `  recovery after a kill  ${faults
        .filter((f) => f.what.endsWith('killed') || f.what.endsWith('restarted'))
        .map((f) => `${f.what}: ${f.gatewayRecoveryMs} ms`)
        .join('; ')}`,
    );
    log('  memory (MiB), first sample -> last:');
    for (const name of Object.keys(last.rssMiB))
      log(`    ${name.padEnd(16)} ${first.rssMiB[name]} -> ${last.rssMiB[name]}`);
    log(`  unexpected crashes     ${crashes.length}`);
    log(
      `  exact comparison       ${failure === undefined ? `ok ${JSON.stringify(exact)}` : `FAILED: ${failure}`}`,
    );
    log('  written to bench/results/soak.json');
    if (failure !== undefined || crashes.length > 0) process.exitCode = 1;
  } finally {
    await p?.stop();
    await cluster.purge();
  }
};

await main();
