// Runs the whole pipeline on this machine: the infrastructure (through infra/infra.sh), the
// topics, and every service as a child process. Commands:
//   start   everything in the foreground plus the simulator and a live status line; Ctrl-C
//           stops what this command started
//   up      infrastructure and services in the background (pid files in .data/run)
//   down    stop the background services and the infrastructure
//   status  what runs, and where
//   topics  create the pipeline's topics
// Settings: scripts/stack-config.ts; the topics: shared/src/topology.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@tradewatch/shared/logger';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { ensureTopology } from '@tradewatch/shared/topology';
import { loadStackConfig } from './stack-config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const config = (() => {
  try {
    return loadStackConfig(process.env, ROOT);
  } catch (err) {
    process.stderr.write(`tradewatch: ${(err as Error).message}\n`);
    process.exit(1);
  }
})();
const RUN = join(config.dataDir, 'run');
const LOGS = join(config.dataDir, 'logs');
const brokers = config.kafkaBrokers;
const { gatewayPort, dashboardPort, processorPortBase, sinkMetricsPort, prometheusUrl, clickhouseUrl } =
  config;
const { events: eventsTopic, alerts: alertsTopic } = config.topics;
const processors = config.processors;

interface ServiceSpec {
  name: string;
  entry: string;
  env?: Record<string, string>;
  /** Node flags, e.g. the processor's young-generation cap (see services/processor/PERFORMANCE.md). */
  nodeFlags?: string[];
}

const SERVICES: ServiceSpec[] = [
  { name: 'gateway', entry: 'services/gateway/src/main.ts' },
  ...Array.from({ length: processors }, (_, i) => ({
    name: `processor-${i + 1}`,
    entry: 'services/processor/src/main.ts',
    env: { PROCESSOR_INSTANCE_ID: `p${i + 1}`, PROCESSOR_METRICS_PORT: String(processorPortBase + i + 1) },
    nodeFlags: ['--max-semi-space-size=16'],
  })),
  { name: 'sink', entry: 'services/sink/src/main.ts', env: { SINK_METRICS_PORT: String(sinkMetricsPort) } },
  {
    name: 'dashboard',
    entry: 'services/dashboard/src/main.ts',
    env: { DASHBOARD_PROMETHEUS_URL: config.dashboardPrometheusUrl },
  },
];

/** Where each service answers Prometheus' scrapes, as the file-based discovery infra.sh set up reads it. */
const writeScrapeTargets = () => {
  const dir = join(config.dataDir, 'prometheus', 'targets');
  mkdirSync(dir, { recursive: true });
  const targets: Record<string, string[]> = {
    gateway: [`127.0.0.1:${gatewayPort}`],
    processor: Array.from({ length: processors }, (_, i) => `127.0.0.1:${processorPortBase + i + 1}`),
    sink: [`127.0.0.1:${sinkMetricsPort}`],
    dashboard: [`127.0.0.1:${dashboardPort}`],
  };
  for (const [service, addresses] of Object.entries(targets)) {
    writeFileSync(
      join(dir, `${service}.json`),
      JSON.stringify([{ targets: addresses, labels: { service } }]),
    );
  }
};
const SIMULATOR: ServiceSpec = { name: 'simulator', entry: 'services/simulator/src/main.ts' };

const say = (msg: string) => process.stdout.write(`tradewatch: ${msg}\n`);

const infra = (...args: string[]): void => {
  const r = spawnSync('bash', [join(ROOT, 'infra/infra.sh'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    say(`infra/infra.sh ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
};

/** The parts of the infrastructure that are not running now (those npm start stops again). */
const infraStopped = (): string[] =>
  ['kafka', 'redis', 'clickhouse', 'prometheus'].filter(
    (c) => spawnSync('bash', [join(ROOT, 'infra/infra.sh'), 'status', c], { stdio: 'ignore' }).status !== 0,
  );

const stackKafka = () =>
  createKafkaClient({ brokers, clientId: 'tradewatch-stack', logger: createLogger('stack', 'error') });

const withAdmin = async <T>(fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> => {
  const admin = stackKafka().admin();
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
};

/** The whole pipeline's topics (shared/src/topology.ts), before any service starts. */
const createTopics = () =>
  withAdmin((admin) => ensureTopology(admin, config.topics, { eventsPartitions: config.eventsPartitions }));

/** What each service is started with: this environment, the brokers the stack uses, demo mode. */
const serviceEnv = (spec: ServiceSpec): NodeJS.ProcessEnv => ({
  ...process.env,
  KAFKA_BROKERS: brokers.join(','),
  TRADEWATCH_DEMO: config.serviceDemo ? '1' : '0',
  ...spec.env,
});

const launch = (spec: ServiceSpec, detached: boolean): ChildProcess => {
  mkdirSync(LOGS, { recursive: true });
  const out = openSync(join(LOGS, `${spec.name}.log`), 'a');
  const child = spawn(process.execPath, [...(spec.nodeFlags ?? []), join(ROOT, spec.entry)], {
    cwd: ROOT,
    env: serviceEnv(spec),
    stdio: ['ignore', out, out],
    detached,
  });
  closeSync(out);
  return child;
};

const pidFile = (name: string) => join(RUN, `${name}.svc.pid`);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const runningPid = (name: string): number | undefined => {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), 'utf8'));
  const cmd = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
  return pid > 0 && alive(pid) && cmd.includes('/src/main.ts') ? pid : undefined;
};

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 60000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s (see ${LOGS})`);
};

const gatewayReady = async () => (await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).ok;
const dashboardReady = async () => (await fetch(`http://127.0.0.1:${dashboardPort}/healthz`)).ok;

const stopPids = async (pids: number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 20000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
};

const demoNotice = () => {
  if (config.demoGatewayTokens) {
    say(
      'GATEWAY_TOKENS is not set: using the demo credential demo:demo-token (bearer token "demo-token") ' +
        'and the sandbox token "demo-sandbox-token" (events answered, never processed nor archived)',
    );
  }
  if (config.demoDashboardUsers) {
    say(
      'DASHBOARD_USERS is not set: the fraud desk has the demo users demo-viewer, demo-analyst and demo-admin ' +
        '(token: <name>-token, e.g. demo-analyst-token)',
    );
  }
};

const urls = () => [
  `  fraud desk     http://127.0.0.1:${dashboardPort}/   (sign in as demo-analyst / demo-analyst-token unless DASHBOARD_USERS is set)`,
  `  ingest API     http://127.0.0.1:${gatewayPort}/v1/events   (docs: http://127.0.0.1:${gatewayPort}/docs)`,
  `  ClickHouse     ${clickhouseUrl}   (database tradewatch; npm run query -- "SELECT ..." or clickhouse-client)`,
  `  Kafka          ${brokers.join(',')}   (topics ${eventsTopic}, ${alertsTopic}; e.g. kcat -C -b ${brokers[0]} -t ${alertsTopic} -X isolation.level=read_committed)`,
  `  Prometheus     ${prometheusUrl}   (every service's metrics; rules and alerts: ${prometheusUrl}/alerts)`,
  `  logs           ${LOGS}`,
];

const up = async () => {
  infra('up');
  writeScrapeTargets();
  await createTopics();
  demoNotice();
  mkdirSync(RUN, { recursive: true });
  for (const spec of SERVICES) {
    const pid = runningPid(spec.name);
    if (pid !== undefined) {
      say(`${spec.name}: already running (pid ${pid})`);
      continue;
    }
    const child = launch(spec, true);
    child.unref();
    writeFileSync(pidFile(spec.name), String(child.pid));
    say(`${spec.name}: started (pid ${child.pid}, log ${join(LOGS, `${spec.name}.log`)})`);
  }
  await waitFor('gateway', gatewayReady);
  await waitFor('fraud desk', dashboardReady);
  say('up; stop with npm run down');
  for (const line of urls()) process.stdout.write(`${line}\n`);
};

const down = async () => {
  const pids: number[] = [];
  for (const spec of [...SERVICES, SIMULATOR]) {
    const pid = runningPid(spec.name);
    if (pid !== undefined) pids.push(pid);
    rmSync(pidFile(spec.name), { force: true });
  }
  await stopPids(pids);
  say(`stopped ${pids.length} service process(es)`);
  infra('down');
};

const clickhouseCount = async (table: string): Promise<number> => {
  const q = `SELECT count() FROM tradewatch.${table}`;
  const res = await fetch(`${clickhouseUrl}/?query=${encodeURIComponent(q)}`, {
    signal: AbortSignal.timeout(2000),
  });
  return res.ok ? Number((await res.text()).trim()) : NaN;
};

const topicEnd = async (admin: KafkaAdmin, topic: string): Promise<number> =>
  (await admin.watermarks(topic)).reduce((n, p) => n + p.high, 0);

const start = async () => {
  const infraWasDown = infraStopped();
  infra('up');
  writeScrapeTargets();
  await createTopics();
  demoNotice();
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\n');
    say('stopping services...');
    await stopPids([...children.values()].map((c) => c.pid!).filter(alive));
    if (infraWasDown.length > 0) infra('down', ...infraWasDown);
    if (infraWasDown.length < 4) {
      say('infrastructure already running before npm start was left running (npm run down stops it)');
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  for (const spec of SERVICES) {
    const child = launch(spec, false);
    children.set(spec.name, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      say(`${spec.name} exited (${code ?? signal}); see ${join(LOGS, `${spec.name}.log`)}`);
      void stopAll(1);
    });
  }
  await waitFor('gateway', gatewayReady);
  await waitFor('fraud desk', dashboardReady);
  children.set(SIMULATOR.name, launch(SIMULATOR, false));
  say('running — Ctrl-C stops everything this command started');
  for (const line of urls()) process.stdout.write(`${line}\n`);

  const kafka = stackKafka();
  const admin = kafka.admin();
  // Alerts raised from now on: every alerts partition read from its end.
  const alertsReader = kafka.partitionReader();
  let alerts = 0;
  alertsReader.start((batch) => {
    alerts += batch.records.length;
  });
  for (const w of await admin.watermarks(alertsTopic)) {
    alertsReader.assign({ topic: alertsTopic, partition: w.partition }, w.high);
  }

  let last = { at: Date.now(), events: await topicEnd(admin, eventsTopic) };
  const startEvents = last.events;
  const tty = process.stdout.isTTY;
  for (;;) {
    await sleep(2000);
    if (stopping) return;
    const events = await topicEnd(admin, eventsTopic).catch(() => last.events);
    const rate = ((events - last.events) * 1000) / (Date.now() - last.at);
    last = { at: Date.now(), events };
    const [archivedEvents, archivedAlerts] = await Promise.all([
      clickhouseCount('events'),
      clickhouseCount('alerts'),
    ]).catch(() => [NaN, NaN]);
    const line =
      `events/s accepted ${rate.toFixed(0).padStart(6)} | events ${String(events - startEvents).padStart(8)} ` +
      `| alerts raised ${String(alerts).padStart(5)} | rows archived: events ${archivedEvents}, alerts ${archivedAlerts}`;
    process.stdout.write(tty ? `\r${line}   ` : `${line}\n`);
  }
};

const status = () => {
  spawnSync('bash', [join(ROOT, 'infra/infra.sh'), 'status'], { stdio: 'inherit' });
  for (const spec of SERVICES) {
    const pid = runningPid(spec.name);
    process.stdout.write(
      `${spec.name.padEnd(12)} ${pid === undefined ? 'stopped' : `running (pid ${pid})`}\n`,
    );
  }
};

const command = process.argv[2];
try {
  switch (command) {
    case 'start':
      await start();
      break;
    case 'up':
      await up();
      break;
    case 'down':
      await down();
      break;
    case 'status':
      status();
      break;
    case 'topics':
      await createTopics();
      say(
        `topics ready: ${Object.values(config.topics).join(', ')} (${eventsTopic}: ${config.eventsPartitions} partitions)`,
      );
      break;
    default:
      process.stderr.write('usage: node scripts/stack.ts start|up|down|status|topics\n');
      process.exit(2);
  }
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  process.exit(1);
}
