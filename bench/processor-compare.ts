// The processor next to its peer, for bench/processor-bench.ts (phases `compare` and `restart`):
//
//   compare — one topic of BENCH_COMPARE_EVENTS events (default 1,200,000) over
//             BENCH_COMPARE_USERS users (40,000), read from the start by: one processor instance
//             (exactly-once), the Kafka Streams peer application (exactly-once v2,
//             one thread), and two processor instances; each timed from start-up until its
//             group has committed the end of every partition, as the peer's README says.
//   restart — the two instances under BENCH_RESTART_RATE events/s (5,000): one is SIGKILLed and
//             started again at once with its instance id (static membership), then SIGTERMed and
//             started again; for each, when its partitions commit events appended after the stop,
//             and whether the other instance paused (its longest gap between commits, and any
//             revocation or restore in its log).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent } from '@tradewatch/shared/events';
import type { KafkaClient, Producer } from '@tradewatch/shared/kafka-port';
import {
  BROKERS,
  createTestTopology,
  produceFast,
  ROOT,
  startService,
  uniqueName,
  waitUntil,
  withAdmin,
  type RunningService,
} from '../test/support/harness.ts';
import { StreamingWorkload } from '../test/support/streaming-workload.ts';
import { loadCompareBenchConfig } from './bench-config.ts';

const compareConfig = loadCompareBenchConfig(process.env, ROOT);

const say = (msg: string) => process.stdout.write(`[processor-bench] ${msg}\n`);

/** CPU time (user + system) of a process so far, ms; 0 once it is gone. */
const cpuMsOf = (pid: number | undefined): number => {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
};

const brokerPid = (): number | undefined => {
  try {
    return Number(readFileSync(join(ROOT, '.data', 'run', 'kafka.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
};

/** Cores used by `pids` (and by the broker) from now until `stop()`, sampled while they live. */
const cpuWatch = (pids: () => (number | undefined)[]) => {
  const broker = brokerPid();
  const b0 = cpuMsOf(broker);
  const t0 = performance.now();
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = () => {
    for (const pid of pids()) {
      const ms = cpuMsOf(pid);
      if (pid === undefined || ms === 0) continue;
      if (!first.has(pid)) first.set(pid, ms);
      last.set(pid, ms);
    }
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    stop: () => {
      sample();
      clearInterval(timer);
      const wall = performance.now() - t0;
      let own = 0;
      for (const [pid, ms] of last) own += ms - (first.get(pid) ?? ms);
      return {
        cores: Math.round((own / wall) * 100) / 100,
        brokerCores: Math.round(((cpuMsOf(broker) - b0) / wall) * 100) / 100,
      };
    },
  };
};

const committed = (kafka: KafkaClient, groupId: string, topic: string) =>
  withAdmin(kafka, (admin) => admin.committedOffsets(groupId, topic));

const ends = (kafka: KafkaClient, topic: string) =>
  withAdmin(
    kafka,
    async (admin) => new Map((await admin.watermarks(topic)).map((w) => [w.partition, w.high])),
  );

const caughtUp = async (kafka: KafkaClient, groupId: string, topic: string) => {
  const [c, e] = await Promise.all([committed(kafka, groupId, topic), ends(kafka, topic)]);
  return [...e].every(([p, high]) => (c.get(p) ?? -1) >= high);
};

/**
 * The peer — the same rule as a Kafka Streams application (a Maven project with
 * `peer.FraudApp`), which is not part of this repository: BENCH_PEER_SOURCE names its sources,
 * built once into BENCH_PEER_DIR (.data/peer-kstreams) with Java 17 and Maven.
 */
const peerDir = (): string => {
  const dir = compareConfig.peerDir;
  if (!existsSync(join(dir, 'target', 'classes', 'peer', 'FraudApp.class'))) {
    const source = compareConfig.peerSource;
    if (source === undefined || !existsSync(join(source, 'pom.xml'))) {
      throw new Error(
        `the Kafka Streams peer is not built in ${dir}: set BENCH_PEER_SOURCE to its Maven project (a pom.xml and peer.FraudApp)`,
      );
    }
    say(`building the Kafka Streams peer from ${source} in ${dir}`);
    mkdirSync(dir, { recursive: true });
    cpSync(source, dir, { recursive: true });
    execFileSync('mvn', ['-q', '-B', 'package', '-DskipTests'], { cwd: dir, stdio: 'inherit' });
  }
  return dir;
};

const startPeer = (dir: string, env: Record<string, string>): ChildProcess => {
  const log = openSync(join(ROOT, '.data', 'logs', `bench-peer-${Date.now()}.log`), 'a');
  return spawn('java', ['-cp', `target/classes:target/dependency/*`, 'peer.FraudApp'], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
};

const stopChild = async (c: ChildProcess) => {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, sleep(20000)]);
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};

/** Seconds from `startedAt` until the group committed the end of every partition. */
const timeToEnd = async (kafka: KafkaClient, groupId: string, topic: string, startedAt: number) => {
  await waitUntil(
    `${groupId} to commit the end of ${topic}`,
    () => caughtUp(kafka, groupId, topic),
    1_800_000,
    100,
  );
  return (performance.now() - startedAt) / 1000;
};

export const runCompare = async (o: {
  kafka: KafkaClient;
  producer: Producer;
  id: string;
  phases: Set<string>;
  stoppers: (() => Promise<unknown>)[];
  running: RunningService[];
  topicsToDelete: string[];
}): Promise<Record<string, unknown>> => {
  const { kafka, producer, id } = o;
  const cfg = compareConfig;
  const events = `${id}.cmp.events`;
  o.topicsToDelete.push(events);
  await createTestTopology(kafka, { events }, { eventsPartitions: cfg.partitions });
  const wl = new StreamingWorkload({ users: cfg.users, seed: 77, runId: `${id}-cmp`, takeoverRate: 0.02 });
  say(`compare: ${cfg.events} events over ${cfg.users} users into ${events}`);
  await produceFast(
    producer,
    events,
    cfg.events,
    () => {
      const ev = wl.next(Date.now());
      return { key: ev.userId, value: encodeEvent(ev) };
    },
    4000,
  );
  const total = [...(await ends(kafka, events)).values()].reduce((a, b) => a + b, 0);
  const out: Record<string, unknown> = { events: total, users: cfg.users, partitions: cfg.partitions };

  const processorEnv = (group: string) => {
    o.topicsToDelete.push(`${group}.alerts`, `${group}.dlq`, `tradewatch.${group}.changelog`);
    return {
      EVENTS_TOPIC: events,
      ALERTS_TOPIC: `${group}.alerts`,
      // Its own rules and shadow-alerts topics: never the real ones of this cluster.
      RULES_TOPIC: `${group}.alerts.rules`,
      SHADOW_ALERTS_TOPIC: `${group}.alerts.shadow`,
      DEAD_LETTER_TOPIC: `${group}.dlq`,
      PROCESSOR_GROUP_ID: group,
      STATS_INTERVAL_MS: '5000',
    };
  };
  const start = (env: Record<string, string>, label: string) => {
    const s = startService('processor', { ...env, PROCESSOR_INSTANCE_ID: label }, `bench-cmp-${label}`);
    o.running.push(s);
    return s;
  };
  const alertCount = (topic: string) =>
    withAdmin(kafka, async (admin) => (await admin.watermarks(topic)).reduce((n, w) => n + w.high, 0));

  // One instance.
  const g1 = `${id}-cmp1`;
  let t0 = performance.now();
  const one = start(processorEnv(g1), 'one');
  let cpu = cpuWatch(() => [one.child.pid]);
  const oneSecs = await timeToEnd(kafka, g1, events, t0);
  await one.stop();
  out.oneInstance = { seconds: oneSecs, eventsPerSec: Math.round(total / oneSecs), cpu: cpu.stop() };
  say(`compare: one instance ${JSON.stringify(out.oneInstance)}`);

  // The Kafka Streams peer.
  if (o.phases.has('peer')) {
    const dir = peerDir();
    const appId = `${id}-peer`;
    const peerAlerts = `${appId}.alerts`;
    o.topicsToDelete.push(peerAlerts);
    await createTestTopology(kafka, { alerts: peerAlerts }, { eventsPartitions: cfg.partitions });
    t0 = performance.now();
    const peer = startPeer(dir, {
      BOOTSTRAP: BROKERS.join(','),
      EVENTS: events,
      ALERTS: peerAlerts,
      APP_ID: appId,
      EOS: 'true',
      THREADS: '1',
    });
    o.stoppers.push(() => stopChild(peer));
    cpu = cpuWatch(() => [peer.pid]);
    const peerSecs = await timeToEnd(kafka, appId, events, t0);
    const peerCpu = cpu.stop();
    await stopChild(peer);
    out.peer = {
      seconds: peerSecs,
      eventsPerSec: Math.round(total / peerSecs),
      alerts: await alertCount(peerAlerts),
      cpu: peerCpu,
    };
    say(`compare: Kafka Streams peer ${JSON.stringify(out.peer)}`);
  }

  // Two instances.
  const g2 = `${id}-cmp2`;
  const env2 = processorEnv(g2);
  t0 = performance.now();
  let a = start(env2, 'a');
  const b = start(env2, 'b');
  cpu = cpuWatch(() => [a.child.pid, b.child.pid]);
  const twoSecs = await timeToEnd(kafka, g2, events, t0);
  out.twoInstances = { seconds: twoSecs, eventsPerSec: Math.round(total / twoSecs), cpu: cpu.stop() };
  out.alerts = {
    oneInstance: await alertCount(`${g1}.alerts`),
    twoInstances: await alertCount(`${g2}.alerts`),
  };
  const r = out as {
    oneInstance: { eventsPerSec: number };
    twoInstances: { eventsPerSec: number };
    peer?: { eventsPerSec: number };
  };
  out.ratios = {
    oneVsPeer:
      r.peer === undefined
        ? undefined
        : Math.round((r.oneInstance.eventsPerSec / r.peer.eventsPerSec) * 100) / 100,
    twoVsOne: Math.round((r.twoInstances.eventsPerSec / r.oneInstance.eventsPerSec) * 100) / 100,
  };
  say(`compare: two instances ${JSON.stringify(out.twoInstances)} ratios ${JSON.stringify(out.ratios)}`);

  if (o.phases.has('restart')) {
    const wl2 = new StreamingWorkload({ users: cfg.users, seed: 78, runId: `${id}-rst`, takeoverRate: 0.02 });
    let running = true;
    let sent = 0;
    const paced = (async () => {
      const began = Date.now();
      while (running) {
        const due = Math.floor(((Date.now() - began) * cfg.restartRate) / 1000) - sent;
        if (due > 0) {
          const now = Date.now();
          const batch = Array.from({ length: due }, () => {
            const ev = wl2.next(now);
            return { topic: events, key: ev.userId, value: encodeEvent(ev) };
          });
          await producer.send(batch);
          sent += due;
        }
        await sleep(5);
      }
    })();
    const partitionsOf = (s: RunningService) => {
      const lines = s
        .log()
        .split('\n')
        .filter((l) => l.includes('"partitions assigned"'));
      const m = /"partitions":\[([\d,]*)\]/.exec(lines.at(-1) ?? '');
      return m === null || m[1] === '' ? [] : m[1]!.split(',').map(Number);
    };
    await sleep(3000);
    const restarts: Record<string, unknown> = {};
    for (const how of ['SIGKILL', 'SIGTERM'] as const) {
      const mine = partitionsOf(a);
      const theirs = partitionsOf(b);
      // Commits of the other instance, sampled every 100 ms: its longest gap tells if it paused.
      const bFrom = b.log().length;
      let sampling = true;
      let lastB = await committed(kafka, g2, events);
      let lastAdvance = Date.now();
      let longestGapMs = 0;
      const sampler = (async () => {
        while (sampling) {
          await sleep(100);
          const c = await committed(kafka, g2, events);
          if (theirs.some((p) => (c.get(p) ?? 0) > (lastB.get(p) ?? 0))) {
            longestGapMs = Math.max(longestGapMs, Date.now() - lastAdvance);
            lastAdvance = Date.now();
          }
          lastB = c;
        }
      })();
      const stoppedAt = Date.now();
      if (how === 'SIGKILL') await a.kill();
      else await a.stop();
      const high = await ends(kafka, events);
      a = start(env2, 'a');
      const flowing = new Map<number, number>();
      await waitUntil(
        `a's partitions to commit again after ${how}`,
        async () => {
          const c = await committed(kafka, g2, events);
          for (const p of mine)
            if (!flowing.has(p) && (c.get(p) ?? 0) > (high.get(p) ?? 0)) flowing.set(p, Date.now());
          return flowing.size === mine.length;
        },
        120000,
        50,
      );
      await sleep(2000);
      sampling = false;
      await sampler;
      const otherLog = b
        .log()
        .slice(bFrom)
        .split('\n')
        .filter((l) =>
          /"partitions (assigned|revoked)"|"partition task closed"|"partition restored"/.test(l),
        );
      restarts[how] = {
        commitsFlowAfterMs: Math.max(...[...flowing.values()].map((t) => t - stoppedAt)),
        samePartitions: partitionsOf(a).join(',') === mine.join(','),
        otherInstanceLongestCommitGapMs: longestGapMs,
        otherInstanceRebalanced: otherLog.length > 0,
      };
      say(`restart (${how}, started again at once): ${JSON.stringify(restarts[how])}`);
      await sleep(3000);
    }
    running = false;
    await paced;
    out.restart = { rate: cfg.restartRate, ...restarts };
  }
  await Promise.all([a.stop(), b.stop()]);
  return out;
};

export const uniqueCompareId = () => uniqueName('cmp');
