// Benchmark of the fraud desk (services/dashboard) against the real Kafka and ClickHouse, on its own
// random topics and its own ClickHouse database (migrated by the sink's migrate command, dropped at
// the end). The desk runs as a child process, as in production.
//   feed   — BENCH_CLIENTS (50) SSE clients on GET /api/alerts/stream, in BENCH_CLIENT_PROCESSES (2)
//            child processes of their own (this file with --sse-clients), so that their parsing
//            does not slow the producer:
//            fast  — BENCH_ALERTS (100,000) alerts produced as fast as the idempotent producer can:
//                    alerts/s each client received from its first alert to its last (min/median/max
//                    over clients), every client checked to get every alert exactly once (count +
//                    distinct ids; a dropped client reconnects with Last-Event-ID after the server's
//                    retry delay, as EventSource does); the desk's CPU and peak RSS
//            raw   — the ceiling: a plain partition reader (read_committed, the tail's settings)
//                    reading the same topic from its start, from when it started reading
//            paced — BENCH_PACED_RATE (500) alerts/s for BENCH_PACED_SECONDS (20): produce → client
//                    latency (detectedAt is the send time) for the 50 clients and the raw consumer
//   page   — BENCH_PAGE_ALERTS (10,000) alerts archived by the sink (child process) from a second
//            alerts topic; a second desk serves them. GET /api/alerts?limit=10000 alone; then
//            Debian's Chromium (headless, playwright-core): navigation → first alert row rendered and
//            → alert-count showing 10000, median of BENCH_PAGE_LOADS (5) fresh loads; frame times
//            (requestAnimationFrame in the page) with the 10,000 rows still and scrolled, then while
//            BENCH_PACED_RATE alerts/s arrive live (at the top, then scrolling).
// Writes bench/results/dashboard.json and prints a summary; exits 1 when a client or the page
// missed or repeated an alert. BENCH_PHASES=feed or =page runs one part; BENCH_DEBUG=1 prints the
// clients' progress every second; BENCH_DESK_NODE_OPTIONS is the desk's NODE_OPTIONS (e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/desk-prof").
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  decodeAlert,
  deriveAlertId,
  encodeAlert,
  RULE_ID,
  RULE_VERSION,
  type Alert,
} from '@tradewatch/shared/alerts';
import type { KafkaClient, OutgoingRecord, Producer } from '@tradewatch/shared/kafka-port';
import { loadSinkConfig } from '../services/sink/src/config.ts';
import {
  clickhouse,
  clickhouseCommand,
  createTestTopology,
  freePort,
  produceFast,
  ROOT,
  startService,
  testKafka,
  testPipeline,
  waitUntil,
  withAdmin,
  type RunningService,
} from '../test/support/harness.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/support/desk-pipeline.ts';
import { loadDashboardBenchConfig } from './bench-config.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const { debug, deskNodeOptions, ...cfg } = loadDashboardBenchConfig(process.env);

const say = (msg: string) => process.stdout.write(`[dashboard-bench] ${msg}\n`);
/** Alerts a request when the bench produces as fast as it can. */
const FAST_CHUNK = 2000;

const percentile = (sorted: ArrayLike<number>, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (xs: readonly number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Alert `i` of a run's `tag`: a valid alert of the contract, its id derived from the trade as the
 * processor derives it. `detectedAt` is the send time in the paced phases (latency is measured
 * against it) and spread over the past hours for the archived page.
 */
const makeAlert = (tag: string, i: number, detectedAt: number): Alert => {
  const tradeEventId = `${tag}-${i}`;
  const baseline = 40 + (i % 60);
  const factor = 12 + (i % 17);
  return {
    alertId: deriveAlertId(RULE_ID, tradeEventId),
    rule: RULE_ID,
    ruleVersion: RULE_VERSION,
    userId: `player-${(i * 7919) % 2003}`,
    tradeEventId,
    tradeTs: detectedAt - 40,
    amount: baseline * factor,
    baseline,
    factor,
    ip: `198.51.100.${i % 250}`,
    knownIps: [`10.${i % 200}.1.7`, `10.${i % 200}.2.9`, '192.0.2.10'],
    previousTrades: 20,
    gameServerId: `gs-${i % 8}`,
    detectedAt,
  };
};

type Message = Omit<OutgoingRecord, 'topic'>;
const alertMessage = (a: Alert): Message => ({ key: a.userId, value: encodeAlert(a) });

// ---------------------------------------------------------------------------------------------
// The SSE clients (child process): `node dashboard-bench.ts --sse-clients '<json>'`. Commands come
// as JSON lines on stdin, answers go as JSON lines on stdout.

interface SseClientsOptions {
  port: number;
  token: string;
  clients: number;
  stallMs: number;
}

interface ExpectCommand {
  cmd: 'expect';
  tag: string;
  n: number;
  latency: boolean;
}

interface ClientResult {
  received: number;
  distinct: number;
  duplicates: number;
  unknown: number;
  malformed: number;
  resets: number;
  reconnects: number;
  refusals: number;
  firstAt: number;
  lastAt: number;
}

interface PhaseResult {
  msg: 'result';
  tag: string;
  n: number;
  complete: boolean;
  clients: ClientResult[];
  /** Produce → receive, ms, of every alert every client received first (latency phases only). */
  latencies: number[];
  cpuMs: number;
  wallMs: number;
}

const runSseClients = (o: SseClientsOptions): void => {
  const send = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
  interface Client {
    buf: string;
    lastEventId: string | undefined;
    retryMs: number;
    connected: boolean;
    everConnected: boolean;
    r: ClientResult;
    seen: Uint8Array;
    latencies: number[];
  }
  const fresh = (): ClientResult => ({
    received: 0,
    distinct: 0,
    duplicates: 0,
    unknown: 0,
    malformed: 0,
    resets: 0,
    reconnects: 0,
    refusals: 0,
    firstAt: 0,
    lastAt: 0,
  });
  let closing = false;
  let phase: ExpectCommand | undefined;
  let ids = new Map<string, number>();
  let lastProgressAt = Date.now();
  const clients: Client[] = Array.from({ length: o.clients }, () => ({
    buf: '',
    lastEventId: undefined,
    retryMs: 1000,
    connected: false,
    everConnected: false,
    r: fresh(),
    seen: new Uint8Array(0),
    latencies: [],
  }));

  const onAlert = (c: Client, alertId: string, detectedAt: number, now: number) => {
    c.r.received++;
    const idx = ids.get(alertId);
    if (idx === undefined) {
      c.r.unknown++;
      return;
    }
    const before = c.seen[idx]!;
    c.seen[idx] = before + 1;
    if (before !== 0) {
      c.r.duplicates++;
      return;
    }
    lastProgressAt = now;
    if (c.r.distinct++ === 0) c.r.firstAt = now;
    c.r.lastAt = now;
    if (phase?.latency === true) c.latencies.push(now - detectedAt);
  };

  const ALERT_HEAD = 'event: alert\nid: ';
  const DATA_HEAD = 'data: {"alertId":"';
  // One complete frame buf[start, end). The desk writes `event`, `id`, `data` in this order and an
  // alert's JSON starts with its alertId (its field order is the producer's); anything else is
  // parsed the slow way.
  const onFrame = (c: Client, buf: string, start: number, end: number, now: number) => {
    if (buf.startsWith(ALERT_HEAD, start)) {
      const idStart = start + ALERT_HEAD.length;
      const idEnd = buf.indexOf('\n', idStart);
      if (idEnd < 0 || idEnd > end) {
        c.r.malformed++;
        return;
      }
      c.lastEventId = buf.slice(idStart, idEnd);
      let alertId: string;
      let detectedAt = 0;
      if (buf.startsWith(DATA_HEAD, idEnd + 1)) {
        const aStart = idEnd + 1 + DATA_HEAD.length;
        alertId = buf.slice(aStart, buf.indexOf('"', aStart));
        if (phase?.latency === true) {
          const d = buf.indexOf('"detectedAt":', aStart) + 13;
          let e = d;
          while (e < end && buf.charCodeAt(e) >= 48 && buf.charCodeAt(e) <= 57) e++;
          detectedAt = Number(buf.slice(d, e));
        }
      } else {
        try {
          const a = JSON.parse(buf.slice(buf.indexOf('data: ', idEnd) + 6, end)) as Alert;
          alertId = a.alertId;
          detectedAt = a.detectedAt;
        } catch {
          c.r.malformed++;
          return;
        }
      }
      onAlert(c, alertId, detectedAt, now);
      return;
    }
    const frame = buf.slice(start, end);
    for (const line of frame.split('\n')) {
      if (line.startsWith('id: ')) c.lastEventId = line.slice(4);
      else if (line.startsWith('retry: ')) c.retryMs = Number(line.slice(7));
      else if (line === 'event: reset') c.r.resets++;
    }
  };

  let connectedOnce = 0;
  const connect = (c: Client) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${o.token}`,
      accept: 'text/event-stream',
    };
    if (c.lastEventId !== undefined) headers['last-event-id'] = c.lastEventId;
    let ended = false;
    const again = (refused: boolean) => {
      if (ended) return;
      ended = true;
      c.connected = false;
      c.buf = '';
      if (closing) return;
      if (refused) c.r.refusals++;
      else c.r.reconnects++;
      setTimeout(() => connect(c), c.retryMs);
    };
    const req = httpGet(
      { host: '127.0.0.1', port: o.port, path: '/api/alerts/stream', headers, agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          again(true);
          return;
        }
        res.setEncoding('latin1');
        if (!c.everConnected) {
          c.everConnected = true;
          if (++connectedOnce === o.clients) send({ msg: 'connected' });
        }
        c.connected = true;
        res.on('data', (chunk: string) => {
          const now = Date.now();
          const buf = c.buf.length === 0 ? chunk : c.buf + chunk;
          let start = 0;
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n', start)) {
            onFrame(c, buf, start, end, now);
            start = end + 2;
          }
          c.buf = start === 0 ? buf : buf.slice(start);
        });
        res.on('close', () => again(false));
        res.on('error', () => again(false));
      },
    );
    req.on('error', () => again(true));
  };

  let phaseCpu = process.cpuUsage();
  let phaseStartedAt = Date.now();
  const report = (complete: boolean) => {
    const p = phase!;
    phase = undefined;
    const cpu = process.cpuUsage(phaseCpu);
    const result: PhaseResult = {
      msg: 'result',
      tag: p.tag,
      n: p.n,
      complete,
      clients: clients.map((c) => ({ ...c.r })),
      latencies: clients.flatMap((c) => c.latencies),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      wallMs: Date.now() - phaseStartedAt,
    };
    send(result);
  };
  if (debug)
    setInterval(() => {
      const d = clients.map((c) => c.r.distinct).sort((a, b) => a - b);
      process.stderr.write(
        `[sse] connected ${clients.filter((c) => c.connected).length} distinct min ${d[0]} med ${d[d.length >> 1]} max ${d.at(-1)} reconnects ${clients.reduce((n, c) => n + c.r.reconnects, 0)}\n`,
      );
    }, 1000);
  setInterval(() => {
    if (phase === undefined) return;
    const n = phase.n;
    if (clients.every((c) => c.r.distinct === n)) report(true);
    else if (Date.now() - lastProgressAt > o.stallMs) report(false);
  }, 50);

  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = JSON.parse(line) as ExpectCommand | { cmd: 'close' };
    if (m.cmd === 'close') {
      closing = true;
      process.exit(0);
    }
    ids = new Map(Array.from({ length: m.n }, (_, i) => [makeAlert(m.tag, i, 0).alertId, i]));
    for (const c of clients) {
      c.r = fresh();
      c.seen = new Uint8Array(m.n);
      c.latencies = [];
    }
    phase = m;
    phaseCpu = process.cpuUsage();
    phaseStartedAt = Date.now();
    lastProgressAt = Date.now();
    send({ msg: 'expecting', tag: m.tag });
  });
  for (const c of clients) connect(c);
};

/**
 * The SSE clients, spread over `processes` child processes (a single one, on this 2-core machine,
 * became the limit once the desk got faster): one phase's result merges theirs.
 */
function startSseClientGroup(o: SseClientsOptions, processes: number) {
  const shares = Array.from({ length: processes }, (_, i) =>
    startSseClients({
      ...o,
      clients: Math.floor(o.clients / processes) + (i < o.clients % processes ? 1 : 0),
    }),
  );
  return {
    pids: shares.map((s) => s.pid),
    connected: () => Promise.all(shares.map((s) => s.connected())),
    expect: (tag: string, n: number, latency: boolean) =>
      Promise.all(shares.map((s) => s.expect(tag, n, latency))),
    async result(timeoutMs: number): Promise<PhaseResult> {
      const rs = await Promise.all(shares.map((s) => s.result(timeoutMs)));
      return {
        msg: 'result',
        tag: rs[0]!.tag,
        n: rs[0]!.n,
        complete: rs.every((r) => r.complete),
        clients: rs.flatMap((r) => r.clients),
        latencies: rs.flatMap((r) => r.latencies),
        cpuMs: rs.reduce((t, r) => t + r.cpuMs, 0),
        wallMs: Math.max(...rs.map((r) => r.wallMs)),
      };
    },
    close: () => Promise.all(shares.map((s) => s.close())),
  };
}

/** The parent's side of one SSE clients process. */
function startSseClients(o: SseClientsOptions) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--sse-clients', JSON.stringify(o)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const inbox: { msg: string }[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    inbox.push(JSON.parse(line) as { msg: string });
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = async <T>(msg: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.msg === msg);
      if (i >= 0) return inbox.splice(i, 1)[0] as T;
      if (child.exitCode !== null) throw new Error(`the SSE clients process exited (${child.exitCode})`);
      if (Date.now() > deadline)
        throw new Error(`the SSE clients did not report "${msg}" in ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(200)]);
    }
  };
  return {
    pid: child.pid!,
    connected: () => next<object>('connected', 30_000),
    async expect(tag: string, n: number, latency: boolean) {
      child.stdin.write(`${JSON.stringify({ cmd: 'expect', tag, n, latency })}\n`);
      await next<object>('expecting', 30_000);
    },
    result: (timeoutMs: number) => next<PhaseResult>('result', timeoutMs),
    async close() {
      if (child.exitCode === null) child.stdin.write(`${JSON.stringify({ cmd: 'close' })}\n`);
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes, Kafka and ClickHouse helpers

/** CPU time (user + system) of a process, ms; Linux counts it in 1/100 s. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** CPU and peak RSS of a process from now until `stop()`. */
function watchProcess(pid: number) {
  const cpu0 = cpuMsOf(pid);
  const t0 = Date.now();
  let peak = rssOf(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 200);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, rssOf(pid));
      const cpuMs = cpuMsOf(pid) - cpu0;
      const wallMs = Date.now() - t0;
      return {
        cpuMs,
        wallMs,
        cpuPercentOfOneCore: Math.round((cpuMs / wallMs) * 100),
        peakRssMiB: Math.round(peak / 2 ** 20),
      };
    },
  };
}

/**
 * Produces `rate` alerts/s of `tag`, each stamped with its send time as detectedAt, until `total`
 * are sent or it is stopped.
 */
function pacedProducer(producer: Producer, topic: string, tag: string, rate: number, total = Infinity) {
  let sent = 0;
  let running = true;
  // An error ends the loop and is reported by stop(), never as an unhandled rejection.
  const done = (async () => {
    const started = Date.now();
    while (running && sent < total) {
      const due = Math.min(total - sent, Math.floor(((Date.now() - started) * rate) / 1000) - sent);
      if (due > 0) {
        const now = Date.now();
        const messages: Message[] = [];
        for (let i = 0; i < due; i++) messages.push(alertMessage(makeAlert(tag, sent + i, now)));
        await producer.send(messages.map((m) => ({ topic, ...m })));
        sent += due;
      }
      await sleep(2);
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  return {
    get sent() {
      return sent;
    },
    async stop(): Promise<number> {
      running = false;
      const err = await done;
      if (err !== undefined)
        throw err instanceof Error ? err : new Error('paced producer failed', { cause: err });
      return sent;
    },
  };
}

/**
 * A plain consumer of `topic` from its start (read_committed, the desk tail's fetch settings):
 * the rate at which it read the first `ceilingCount` records, then produce → read latency of the
 * alerts of `latencyTag` (detectedAt is their send time).
 */
async function startRawConsumer(kafka: KafkaClient, topic: string, ceilingCount: number) {
  const reader = kafka.partitionReader({ maxWaitMs: 100 });
  let read = 0;
  let joinedAt = 0;
  let ceilingAt = 0;
  let latencyTag: string | undefined;
  const latencies: number[] = [];
  // From the start of reading on: a first fetch may bring every record at once, so the time
  // between the first batch and the last would say nothing.
  reader.start((batch) => {
    const now = Date.now();
    read += batch.records.length;
    if (ceilingAt === 0 && read >= ceilingCount) ceilingAt = now;
    if (latencyTag !== undefined) {
      for (const m of batch.records) {
        const a = decodeAlert(m.value!);
        if (a.tradeEventId.startsWith(latencyTag)) latencies.push(now - a.detectedAt);
      }
    }
  });
  const partitions = await withAdmin(kafka, (admin) => admin.partitionCount(topic));
  joinedAt = Date.now();
  for (let partition = 0; partition < partitions; partition++) reader.assign({ topic, partition }, 0);
  return {
    ceiling: async () => {
      await waitUntil(
        `the raw consumer to read ${ceilingCount} alerts (${read} read)`,
        () => ceilingAt > 0,
        300_000,
        50,
      );
      return {
        alerts: ceilingCount,
        msFromGroupJoin: ceilingAt - joinedAt,
        alertsPerSec: Math.round(ceilingCount / ((ceilingAt - joinedAt) / 1000)),
      };
    },
    measureLatencyOf: (tag: string) => {
      latencyTag = `${tag}-`;
      latencies.length = 0;
    },
    latencies: () => [...latencies].sort((a, b) => a - b),
    stop: () => reader.close(),
  };
}

function latencySummary(sorted: readonly number[]) {
  return {
    samples: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
  };
}

/** The per-client delivered rates and the exactly-once check of one phase. */
function feedSummary(r: PhaseResult) {
  const rates = r.clients
    .map((c) => (c.lastAt > c.firstAt ? (c.distinct - 1) / ((c.lastAt - c.firstAt) / 1000) : NaN))
    .sort((a, b) => a - b);
  const total = (k: keyof ClientResult) => r.clients.reduce((n, c) => n + c[k], 0);
  const firstAt = Math.min(...r.clients.map((c) => c.firstAt));
  const lastAt = Math.max(...r.clients.map((c) => c.lastAt));
  return {
    alerts: r.n,
    clients: r.clients.length,
    exactlyOnce:
      r.complete &&
      r.clients.every(
        (c) =>
          c.distinct === r.n && c.received === r.n && c.duplicates === 0 && c.unknown === 0 && c.resets === 0,
      ),
    clientsComplete: r.clients.filter((c) => c.distinct === r.n).length,
    missing: r.clients.reduce((n, c) => n + (r.n - c.distinct), 0),
    duplicates: total('duplicates'),
    unknown: total('unknown'),
    malformed: total('malformed'),
    resets: total('resets'),
    reconnects: total('reconnects'),
    refusals: total('refusals'),
    perClientAlertsPerSec: {
      min: Math.round(rates[0] ?? NaN),
      median: Math.round(percentile(rates, 0.5)),
      max: Math.round(rates.at(-1) ?? NaN),
    },
    /** From the first alert any client got to the last one the slowest got. */
    allClientsSpanMs: lastAt - firstAt,
    /** Alerts delivered to all clients together per second over that span. */
    allClientsAlertsPerSec: Math.round(
      (r.clients.reduce((n, c) => n + c.distinct, 0) / (lastAt - firstAt)) * 1000,
    ),
    /** CPU of the SSE client processes together (100 = one core busy). */
    clientsProcesses: { cpuMs: r.cpuMs, cpuPercentOfOneCore: Math.round((r.cpuMs / r.wallMs) * 100) },
  };
}

// ---------------------------------------------------------------------------------------------
// The page: scripts run in Chromium. They are plain JavaScript strings, since the bench is typed
// without the DOM library.

/** Before the page's own scripts: marks for the first alert row and the full count, long tasks, frames. */
const initScript = (target: number) => `(() => {
  const b = { marks: {}, longTasks: [] };
  window.__bench = b;
  const check = () => {
    const m = b.marks;
    if (m.firstRowDom === undefined && document.querySelector('[data-testid="alert-row"]') !== null) {
      m.firstRowDom = performance.now();
      requestAnimationFrame(() => { m.firstRowFrame = performance.now(); });
    }
    if (m.fullDom === undefined) {
      const c = document.querySelector('[data-testid="alert-count"]');
      if (c !== null && c.textContent === '${target}') {
        m.fullDom = performance.now();
        requestAnimationFrame(() => { m.fullFrame = performance.now(); });
      }
    }
    return m.firstRowDom !== undefined && m.fullDom !== undefined;
  };
  const mo = new MutationObserver(() => { if (check()) mo.disconnect(); });
  mo.observe(document, { childList: true, subtree: true, characterData: true });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask', buffered: true });
  } catch {}
  // rAF timestamps for ms; mode 'still' (the list stays at the top), 'wheel' (down and back at
  // pxPerSec, by time, so a late frame jumps as a real scroll would) or 'sweep' (the whole list
  // down and back up in ms).
  b.frames = (ms, mode, pxPerSec) => new Promise((resolve) => {
    const el = document.querySelector('.alert-list');
    const times = [];
    const longFrom = b.longTasks.length;
    let t0;
    let rows = 0;
    const max = el === null ? 0 : el.scrollHeight - el.clientHeight;
    if (el !== null) el.scrollTop = 0;
    const tick = (t) => {
      if (t0 === undefined) t0 = t;
      times.push(t);
      const e = t - t0;
      if (el !== null && max > 0 && mode !== 'still') {
        const travelled = mode === 'wheel' ? (e / 1000) * pxPerSec : (e / ms) * 2 * max;
        const k = travelled % (2 * max);
        el.scrollTop = Math.round(k <= max ? k : 2 * max - k);
      }
      rows = Math.max(rows, document.querySelectorAll('[data-testid="alert-row"]').length);
      if (e < ms) requestAnimationFrame(tick);
      else {
        if (el !== null) el.scrollTop = 0;
        resolve({ times, longTasks: b.longTasks.slice(longFrom), rowsInDom: rows, scrollHeight: el === null ? 0 : el.scrollHeight });
      }
    };
    requestAnimationFrame(tick);
  });
})();`;

interface BenchMarks {
  firstRowDom?: number;
  firstRowFrame?: number;
  fullDom?: number;
  fullFrame?: number;
}

interface FramesResult {
  times: number[];
  longTasks: number[];
  rowsInDom: number;
  scrollHeight: number;
}

function frameStats(f: FramesResult) {
  const intervals = f.times.slice(1).map((t, i) => t - f.times[i]!);
  const sorted = [...intervals].sort((a, b) => a - b);
  const seconds = ((f.times.at(-1) ?? 0) - (f.times[0] ?? 0)) / 1000;
  return {
    frames: intervals.length,
    fps: round1(intervals.length / seconds),
    frameMs: {
      p50: round1(percentile(sorted, 0.5)),
      p95: round1(percentile(sorted, 0.95)),
      p99: round1(percentile(sorted, 0.99)),
      max: round1(sorted.at(-1) ?? NaN),
    },
    framesOver33Ms: intervals.filter((x) => x > 33.4).length,
    framesOver50Ms: intervals.filter((x) => x > 50).length,
    longTasks: f.longTasks.length,
    longestTaskMs: Math.max(0, ...f.longTasks),
    rowsInDom: f.rowsInDom,
    scrollHeightPx: f.scrollHeight,
  };
}

const alertCountOf = async (page: Page): Promise<number> =>
  Number(await page.locator('[data-testid="alert-count"]').textContent());

// ---------------------------------------------------------------------------------------------

async function runBench(): Promise<void> {
  // Topics, groups and a database of its own: never the real ones of this cluster.
  const pipeline = testPipeline('bench-desk');
  const suffix = pipeline.id;
  const names = {
    feedAlerts: `${pipeline.id}.feed-alerts`,
    pageAlerts: pipeline.topics.alerts,
    labels: pipeline.topics.labels,
    events: pipeline.topics.events,
    deadLetters: pipeline.topics.deadLetters,
    sinkGroup: pipeline.sinkGroup,
    database: pipeline.database,
  };
  const token = `bench-${randomBytes(12).toString('hex')}`;
  const deskUser = 'bench-analyst';
  const kafka = testKafka();
  const running: RunningService[] = [];
  let browser: Browser | undefined;
  let sse: ReturnType<typeof startSseClientGroup> | undefined;
  const result: Record<string, unknown> = {
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: Math.round(totalmem() / 2 ** 30),
      loadBefore: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    config: { ...cfg, phases: [...cfg.phases] },
  };
  const failures: string[] = [];

  const cleanUp = async () => {
    await browser?.close().catch(() => undefined);
    await sse?.close().catch(() => undefined);
    for (const s of running) {
      await Promise.race([s.stop(), sleep(15_000)]);
      await s.kill();
    }
    await withAdmin(kafka, async (admin) => {
      await admin.deleteTopics([...pipeline.allTopics, names.feedAlerts]).catch(() => undefined);
      await admin.deleteGroups([names.sinkGroup]).catch(() => undefined);
    }).catch(() => undefined);
    await clickhouseCommand(`DROP DATABASE IF EXISTS ${names.database}`).catch(() => undefined);
  };
  const onSignal = () => {
    say('interrupted: cleaning up');
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);

  const sinkEnv = { ...pipeline.env, LOG_LEVEL: 'warn' };
  loadSinkConfig(sinkEnv); // the sink's own validation, before anything is started

  const startDesk = async (alertsTopic: string, label: string) => {
    const port = await freePort();
    const desk = startService(
      'dashboard',
      {
        ...pipeline.env,
        ALERTS_TOPIC: alertsTopic,
        DASHBOARD_HOST: '127.0.0.1',
        DASHBOARD_PORT: String(port),
        DASHBOARD_USERS: `${deskUser}:analyst:${token}`,
        TRADEWATCH_DEMO: '0',
        LOG_LEVEL: 'warn',
        ...(deskNodeOptions === undefined ? {} : { NODE_OPTIONS: deskNodeOptions }),
      },
      label,
    );
    running.push(desk);
    const url = `http://127.0.0.1:${port}`;
    await waitUntil(
      `the desk (${label})`,
      async () => {
        if (desk.child.exitCode !== null) throw new Error(`the desk exited: ${desk.log().slice(-2000)}`);
        return (await fetch(`${url}/healthz`)).ok;
      },
      60_000,
      100,
    );
    return { desk, port, url };
  };
  const stopDesk = async (desk: RunningService) => {
    await desk.stop();
    running.splice(running.indexOf(desk), 1);
  };

  try {
    say(`topics ${suffix}.*, database ${names.database}`);
    const sizes = { eventsPartitions: cfg.partitions };
    await createTestTopology(
      kafka,
      {
        events: names.events,
        alerts: names.pageAlerts,
        deadLetters: names.deadLetters,
        labels: names.labels,
      },
      sizes,
    );
    await createTestTopology(kafka, { alerts: names.feedAlerts }, sizes);
    // The archive's tables, by the sink's own migrations.
    const migrated = spawnSync(process.execPath, [join(ROOT, 'services/sink/src/migrate-command.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...sinkEnv },
      encoding: 'utf8',
    });
    if (migrated.status !== 0) throw new Error(`migrations failed: ${migrated.stderr}`);

    const producer = kafka.producer();
    try {
      if (cfg.phases.has('feed')) result.feed = await feedPart(producer);
      if (cfg.phases.has('page')) result.page = await pagePart(producer);
    } finally {
      await producer.close();
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await cleanUp();
  }

  async function feedPart(producer: Producer) {
    const { desk, port } = await startDesk(names.feedAlerts, 'bench-desk-feed');
    sse = startSseClientGroup(
      { port, token, clients: cfg.clients, stallMs: cfg.stallMs },
      cfg.clientProcesses,
    );
    await sse.connected();
    const idleRssMiB = Math.round(rssOf(desk.child.pid!) / 2 ** 20);
    say(`feed: ${cfg.clients} SSE clients connected; producing ${cfg.alerts} alerts as fast as possible`);

    const fastTag = `fast-${suffix}`;
    await sse.expect(fastTag, cfg.alerts, false);
    const fastWatch = watchProcess(desk.child.pid!);
    const producedPerSec = await produceFast(
      producer,
      names.feedAlerts,
      cfg.alerts,
      (i) => alertMessage(makeAlert(fastTag, i, Date.now())),
      FAST_CHUNK,
    );
    const fastResult = await sse.result(600_000);
    const fast = {
      ...feedSummary(fastResult),
      producerAlertsPerSec: Math.round(producedPerSec),
      desk: fastWatch.stop(),
    };
    say(`feed fast: ${JSON.stringify(fast)}`);
    if (!fast.exactlyOnce) failures.push(`feed fast: not every client got every alert exactly once`);

    // The ceiling: a plain consumer reads the same topic, with the desk idle.
    const raw = await startRawConsumer(kafka, names.feedAlerts, cfg.alerts);
    const ceiling = await raw.ceiling();
    say(`raw consumer: ${JSON.stringify(ceiling)}`);

    /** `rate` alerts/s for `seconds`: latency for the clients and the raw consumer, exactly once. */
    const pacedRun = async (label: string, rate: number, seconds: number) => {
      const tag = `${label}-${suffix}`;
      const count = rate * seconds;
      await sse!.expect(tag, count, true);
      raw.measureLatencyOf(tag);
      say(`feed ${label}: ${rate} alerts/s for ${seconds} s`);
      const watch = watchProcess(desk.child.pid!);
      const paced = pacedProducer(producer, names.feedAlerts, tag, rate, count);
      await waitUntil('the paced alerts to be sent', () => paced.sent >= count, seconds * 3000, 20);
      await paced.stop();
      const r = await sse!.result(120_000);
      const deskUse = watch.stop();
      await waitUntil(
        `the raw consumer to read the ${label} alerts`,
        () => raw.latencies().length >= count,
        60_000,
        100,
      );
      const out = {
        ...feedSummary(r),
        rate,
        seconds,
        latencyMs: latencySummary(r.latencies.sort((a, b) => a - b)),
        rawConsumerLatencyMs: latencySummary(raw.latencies()),
        desk: deskUse,
      };
      say(`feed ${label}: ${JSON.stringify(out)}`);
      if (!out.exactlyOnce) failures.push(`feed ${label}: not every client got every alert exactly once`);
      return out;
    };
    const paced = await pacedRun('paced', cfg.pacedRate, cfg.pacedSeconds);
    const sustained = await pacedRun('sustained', cfg.sustainedRate, cfg.sustainedSeconds);
    await raw.stop();

    await sse.close();
    sse = undefined;
    const rss = rssOf(desk.child.pid!);
    await stopDesk(desk);
    return {
      topicPartitions: cfg.partitions,
      deskIdleRssMiB: idleRssMiB,
      fast,
      rawConsumer: ceiling,
      /** The median client's rate, and all clients' together, over the raw consumer's. */
      fastOfRaw: {
        medianClient: Math.round((fast.perClientAlertsPerSec.median / ceiling.alertsPerSec) * 1000) / 1000,
        allClients: Math.round((fast.allClientsAlertsPerSec / ceiling.alertsPerSec) * 1000) / 1000,
      },
      paced,
      sustained,
      deskRssAtEndMiB: Math.round(rss / 2 ** 20),
    };
  }

  async function pagePart(producer: Producer) {
    // The archive: alerts over the past hours, archived by the sink from their topic.
    const now = Date.now();
    const pageTag = `page-${suffix}`;
    const n = cfg.pageAlerts;
    await produceFast(
      producer,
      names.pageAlerts,
      n,
      (i) => alertMessage(makeAlert(pageTag, i, now - (n - i) * 1500)),
      FAST_CHUNK,
    );
    const sink = startService('sink', { ...sinkEnv, SINK_MIGRATE_ON_START: 'false' }, 'bench-desk-sink');
    running.push(sink);
    const archivedAt = Date.now();
    await waitUntil(
      `the sink to archive ${n} alerts`,
      async () => {
        if (sink.child.exitCode !== null) throw new Error(`the sink exited: ${sink.log().slice(-2000)}`);
        const [r] = await clickhouse<{ c: string }>(
          `SELECT count() AS c FROM ${names.database}.alerts FINAL`,
        );
        return Number(r?.c) === n;
      },
      120_000,
      200,
    );
    say(`page: ${n} alerts archived by the sink in ${Date.now() - archivedAt} ms`);
    await sink.stop();
    running.splice(running.indexOf(sink), 1);

    const { desk, url } = await startDesk(names.pageAlerts, 'bench-desk-page');
    const auth = { authorization: `Bearer ${token}` };

    // The page of history alone, as the browser asks for it.
    const apiRuns: { ms: number; bytes: number }[] = [];
    for (let i = 0; i <= cfg.apiRuns; i++) {
      const t0 = performance.now();
      const res = await fetch(`${url}/api/alerts?limit=${n}`, { headers: auth });
      const body = await res.text();
      const ms = performance.now() - t0;
      const got = (JSON.parse(body) as { alerts: unknown[] }).alerts.length;
      if (res.status !== 200 || got !== n)
        throw new Error(`GET /api/alerts?limit=${n}: ${res.status}, ${got} alerts`);
      if (i > 0) apiRuns.push({ ms: round1(ms), bytes: body.length }); // the first warms the desk up
    }
    const api = {
      limit: n,
      medianMs: round1(median(apiRuns.map((r) => r.ms))),
      runsMs: apiRuns.map((r) => r.ms),
      bodyKiB: Math.round((apiRuns[0]?.bytes ?? 0) / 1024),
    };
    say(`page: GET /api/alerts?limit=${n} ${JSON.stringify(api)}`);

    const tools = spawnSync('bash', [join(ROOT, 'infra/infra.sh'), 'tools', 'browser'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (tools.status !== 0 && !existsSync(CHROMIUM)) {
      throw new Error(`infra/infra.sh tools browser failed and ${CHROMIUM} is missing: ${tools.stderr}`);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
    const viewport = { width: 1440, height: 900 };

    // Warm-up, not in the medians: signing in with the form, then the history.
    const first = await browser.newContext({ viewport });
    const signInPage = await first.newPage();
    await signInPage.addInitScript({ content: initScript(n) });
    await signInPage.goto(url);
    await signInPage.getByTestId('signin-name').fill(deskUser);
    await signInPage.getByTestId('signin-token').fill(token);
    const submitAt = Date.now();
    await signInPage.getByTestId('signin-submit').click();
    await signInPage.waitForFunction('window.__bench.marks.fullDom !== undefined', undefined, {
      timeout: 60_000,
    });
    const signInToFullMs = Date.now() - submitAt;
    await first.close();

    const loads: Record<string, number>[] = [];
    let page: Page | undefined;
    for (let i = 0; i < cfg.pageLoads; i++) {
      await page?.context().close();
      const context = await browser.newContext({ viewport });
      const session = await context.request.post(`${url}/api/session`, { data: { name: deskUser, token } });
      if (!session.ok()) throw new Error(`POST /api/session: ${session.status()}`);
      page = await context.newPage();
      await page.addInitScript({ content: initScript(n) });
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(
        'window.__bench.marks.fullFrame !== undefined && window.__bench.marks.firstRowFrame !== undefined',
        undefined,
        { timeout: 60_000 },
      );
      const marks = JSON.parse(
        await page.evaluate<string>('JSON.stringify(window.__bench.marks)'),
      ) as BenchMarks;
      const timing = JSON.parse(
        await page.evaluate<string>(`JSON.stringify({
          domContentLoaded: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
          alertsResponseEnd: (performance.getEntriesByType('resource').find((e) => e.name.includes('/api/alerts?')) || {}).responseEnd,
        })`),
      ) as Record<string, number>;
      const count = await alertCountOf(page);
      if (count !== n) failures.push(`page load ${i + 1}: alert-count ${count}, not ${n}`);
      loads.push({
        firstRowMs: Math.round(marks.firstRowFrame!),
        fullMs: Math.round(marks.fullFrame!),
        firstRowDomMs: Math.round(marks.firstRowDom!),
        fullDomMs: Math.round(marks.fullDom!),
        domContentLoadedMs: Math.round(timing.domContentLoaded ?? NaN),
        alertsResponseEndMs: Math.round(timing.alertsResponseEnd ?? NaN),
      });
      say(`page load ${i + 1}: ${JSON.stringify(loads.at(-1))}`);
    }
    if (page === undefined) throw new Error('BENCH_PAGE_LOADS must be at least 1');
    const loaded: Page = page;
    const pick = (k: string) => median(loads.map((l) => l[k]!));

    const frames = async (ms: number, mode: 'still' | 'wheel' | 'sweep', pxPerSec = 0) =>
      frameStats(
        JSON.parse(
          await loaded.evaluate<string>(
            `window.__bench.frames(${ms}, '${mode}', ${pxPerSec}).then((r) => JSON.stringify(r))`,
          ),
        ) as FramesResult,
      );
    const scroll = {
      still: await frames(cfg.scrollSeconds * 1000, 'still'),
      wheel3000PxPerSec: await frames(cfg.scrollSeconds * 1000, 'wheel', 3000),
      sweepWholeList: await frames(cfg.scrollSeconds * 1000, 'sweep'),
    };
    say(`page scroll (${n} rows): ${JSON.stringify(scroll)}`);

    // Alerts arriving live while the page is open: at the top (the newest on top), then scrolling.
    const liveTag = `live-${suffix}`;
    const deskWatch = watchProcess(desk.child.pid!);
    const paced = pacedProducer(producer, names.pageAlerts, liveTag, cfg.pacedRate);
    await sleep(1000);
    const liveStill = await frames(cfg.liveSeconds * 1000, 'still');
    const liveWheel = await frames(cfg.liveSeconds * 1000, 'wheel', 3000);
    const liveSent = await paced.stop();
    const liveDesk = deskWatch.stop();
    const expected = Math.min(n + liveSent, 20_000);
    let liveCount = 0;
    await waitUntil(
      `the page to count ${expected} alerts`,
      async () => (liveCount = await alertCountOf(loaded)) === expected,
      30_000,
      100,
    ).catch(() => failures.push(`page live: alert-count ${liveCount}, expected ${expected}`));
    const feedStatus = await loaded.getByTestId('feed-status').textContent();
    const live = {
      rate: cfg.pacedRate,
      sent: liveSent,
      alertCountAfter: liveCount,
      expectedCount: expected,
      feedStatus,
      atTop: liveStill,
      wheel3000PxPerSec: liveWheel,
      desk: liveDesk,
    };
    say(`page live: ${JSON.stringify(live)}`);
    await loaded.context().close();
    await browser.close();
    browser = undefined;
    await stopDesk(desk);
    return {
      alerts: n,
      viewport,
      api,
      signInToFullMs,
      loads,
      median: {
        firstRowMs: pick('firstRowMs'),
        fullMs: pick('fullMs'),
        alertsResponseEndMs: pick('alertsResponseEndMs'),
        domContentLoadedMs: pick('domContentLoadedMs'),
      },
      scroll,
      live,
    };
  }

  (result.machine as Record<string, unknown>).loadAfter = loadavg().map((l) => Math.round(l * 100) / 100);
  result.failures = failures;
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', 'dashboard.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${summary(result)}\n(bench/results/dashboard.json)\n`);
  process.exit(failures.length === 0 ? 0 : 1);
}

function summary(r: Record<string, unknown>): string {
  const g = (path: string): unknown =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r);
  const line = (label: string, ...paths: string[]) =>
    `  ${label.padEnd(52)} ${paths
      .map((p) => {
        const v = g(p);
        return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' ? String(v) : '—';
      })
      .join(' / ')}`;
  const failures = (r.failures as string[] | undefined) ?? [];
  const rows: [string, ...string[]][] = [
    ['fast: producer alerts/s', 'feed.fast.producerAlertsPerSec'],
    [
      'fast: per-client alerts/s min / median / max',
      ...['min', 'median', 'max'].map((k) => `feed.fast.perClientAlertsPerSec.${k}`),
    ],
    ['fast: all clients together alerts/s', 'feed.fast.allClientsAlertsPerSec'],
    ['fast: every client every alert exactly once', 'feed.fast.exactlyOnce'],
    [
      'fast: missing / duplicates / reconnects',
      'feed.fast.missing',
      'feed.fast.duplicates',
      'feed.fast.reconnects',
    ],
    [
      'fast: desk CPU % of a core / peak RSS MiB',
      'feed.fast.desk.cpuPercentOfOneCore',
      'feed.fast.desk.peakRssMiB',
    ],
    ['fast: SSE client processes CPU % of a core', 'feed.fast.clientsProcesses.cpuPercentOfOneCore'],
    ['raw consumer alerts/s (ceiling)', 'feed.rawConsumer.alertsPerSec'],
    ['median client / all clients, of raw', 'feed.fastOfRaw.medianClient', 'feed.fastOfRaw.allClients'],
    ...(['paced', 'sustained'] as const).flatMap((k): [string, ...string[]][] => {
      const rate = k === 'paced' ? cfg.pacedRate : cfg.sustainedRate;
      return [
        [
          `${rate}/s: latency ms p50 / p99 / max (all clients)`,
          ...['p50', 'p99', 'max'].map((q) => `feed.${k}.latencyMs.${q}`),
        ],
        [
          `${rate}/s: raw consumer latency ms p50 / p99`,
          `feed.${k}.rawConsumerLatencyMs.p50`,
          `feed.${k}.rawConsumerLatencyMs.p99`,
        ],
        [`${rate}/s: exactly once / reconnects`, `feed.${k}.exactlyOnce`, `feed.${k}.reconnects`],
        [
          `${rate}/s: desk CPU % of a core / peak RSS MiB`,
          `feed.${k}.desk.cpuPercentOfOneCore`,
          `feed.${k}.desk.peakRssMiB`,
        ],
      ];
    }),
    [`GET /api/alerts?limit=${cfg.pageAlerts} median ms / KiB`, 'page.api.medianMs', 'page.api.bodyKiB'],
    [
      'page: navigation → first row / → count shown, median ms',
      'page.median.firstRowMs',
      'page.median.fullMs',
    ],
    ['page: history response end, median ms', 'page.median.alertsResponseEndMs'],
    ...(
      [
        ['scroll 3000 px/s', 'scroll.wheel3000PxPerSec'],
        ['sweep whole list', 'scroll.sweepWholeList'],
        [`live ${cfg.pacedRate}/s at top`, 'live.atTop'],
        [`live ${cfg.pacedRate}/s scrolling`, 'live.wheel3000PxPerSec'],
      ] as const
    ).map(([label, k]): [string, ...string[]] => [
      `${label}: fps / frame p95 / max ms`,
      `page.${k}.fps`,
      `page.${k}.frameMs.p95`,
      `page.${k}.frameMs.max`,
    ]),
    ['live: alert-count after / expected', 'page.live.alertCountAfter', 'page.live.expectedCount'],
    ['load average before / after', 'machine.loadBefore.0', 'machine.loadAfter.0'],
  ];
  return [
    `dashboard benchmark — ${cfg.clients} SSE clients, ${cfg.alerts} alerts fast, ${cfg.pacedRate}/s and ${cfg.sustainedRate}/s paced; page with ${cfg.pageAlerts} alerts`,
    ...rows.map(([label, ...paths]) => line(label, ...paths)),
    failures.length === 0
      ? '  checks: every alert delivered exactly once'
      : `  FAILED: ${failures.join('; ')}`,
  ].join('\n');
}

if (process.argv[2] === '--sse-clients') {
  runSseClients(JSON.parse(process.argv[3]!) as SseClientsOptions);
} else {
  await runBench();
}
