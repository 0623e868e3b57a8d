// The fraud desk's browser tests' world: the whole pipeline (gateway, processors, sink, desk) as
// child processes on private topics, group and database; takeover sequences with their expected
// alert worked out by hand; a TCP proxy that can cut the browser off the desk; a watcher that
// timestamps each alert committed on the alerts topic; and Debian's Chromium.
import { execFileSync } from 'node:child_process';
import { createServer as createNetServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { deriveAlertId, RULE_ID, type Alert } from '@tradewatch/shared/alerts';
import type { KafkaClient } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import {
  KEEP_TEST_DATA,
  freePort,
  ROOT,
  clickhouse,
  clickhouseCommand,
  createTestTopology,
  deleteTestTopics,
  startProcessor,
  startService,
  testKafka,
  testPipeline,
  waitUntil,
  withAdmin,
  type RunningService,
} from './harness.ts';

/** Debian's Chromium, never a downloaded build, and how the tests and the desk's bench run it. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Debian's Chromium (installed by infra.sh if missing), headless. */
export const launchChromium = async (): Promise<Browser> => {
  execFileSync('bash', [join(ROOT, 'infra/infra.sh'), 'tools', 'browser'], { stdio: 'inherit' });
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
};

export interface DeskUserCredentials {
  name: string;
  token: string;
}

export interface DeskPipeline {
  id: string;
  kafka: KafkaClient;
  database: string;
  env: Readonly<Record<string, string>>;
  gatewayUrl: string;
  /** The desk itself; the browser may reach it through a proxy instead. */
  dashboardUrl: string;
  dashboardPort: number;
  users: { viewer: DeskUserCredentials; analyst: DeskUserCredentials; admin: DeskUserCredentials };
  /** Posts events to the gateway (with these extra headers); every one must be accepted. */
  post(events: readonly Record<string, unknown>[], headers?: Record<string, string>): Promise<void>;
  /** The processor instance that owns a user's partition now, with its state endpoint. */
  ownerOf(userId: string): Promise<{ partition: number; instance: string; endpoint: string }>;
  /** SIGKILL of the desk: a crash, connections dropped mid-stream. */
  killDashboard(): Promise<void>;
  /** Starts the desk again on the same port and waits until it serves. */
  startDashboard(): Promise<void>;
  stop(): Promise<void>;
}

const PARTITIONS = 3;
const GATEWAY_TOKEN = 'desk-e2e-gateway-token';

/**
 * Starts gateway, `processors` processors (each serving and advertising its state endpoint),
 * sink and desk on topics, groups, Redis keys and a ClickHouse database of their own.
 */
export const startDeskPipeline = async (opts: {
  processors: number;
  /** More environment for every service (telemetry, ports). */
  env?: Record<string, string>;
}): Promise<DeskPipeline> => {
  const kafka = testKafka();
  const pipeline = testPipeline('desk');
  const { id, database } = pipeline;
  const users = {
    viewer: { name: 'vera-viewer', token: `viewer-${id}` },
    analyst: { name: 'ana-analyst', token: `analyst-${id}` },
    admin: { name: 'adam-admin', token: `admin-${id}` },
  };
  const env = {
    ...pipeline.env,
    GATEWAY_TOKENS: `gs-eu-1:${GATEWAY_TOKEN}`,
    GATEWAY_RATE_LIMIT_EVENTS_PER_SEC: '1000000',
    GATEWAY_REDIS_KEY_PREFIX: `tw:${id}:`,
    ...opts.env,
  };
  await createTestTopology(
    kafka,
    { events: env.EVENTS_TOPIC, alerts: env.ALERTS_TOPIC },
    { eventsPartitions: PARTITIONS },
  );
  const [gatewayPort, dashboardPort] = [await freePort(), await freePort()];
  const dashboardEnv: Record<string, string> = {
    ...env,
    DASHBOARD_PORT: String(dashboardPort),
    DASHBOARD_USERS: Object.entries(users)
      .map(([role, u]) => `${u.name}:${role}:${u.token}`)
      .join(','),
    // Fixed for the run: a restarted desk accepts the browser's session cookie.
    DASHBOARD_SESSION_SECRET: `desk-browser-test-session-secret-${id}`,
  };
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const dashboardUrl = `http://127.0.0.1:${dashboardPort}`;
  const services: RunningService[] = [
    startService('gateway', { ...env, GATEWAY_PORT: String(gatewayPort) }),
    ...Array.from({ length: opts.processors }, (_, i) =>
      startProcessor({ ...env, PROCESSOR_METRICS_PORT: '0' }, `p${i + 1}`),
    ),
    startService('sink', env),
  ];
  let dashboard: RunningService | undefined;

  const groupMembers = () =>
    withAdmin(kafka, (admin) => admin.describeGroupMembers(env.PROCESSOR_GROUP_ID, env.EVENTS_TOPIC));

  const startDashboard = async () => {
    dashboard = startService('dashboard', dashboardEnv);
    const d = dashboard;
    await waitUntil(
      'the desk to serve alerts',
      async () => {
        if (d.child.exitCode !== null) throw new Error(`the desk exited: ${d.log().slice(-2000)}`);
        const res = await fetch(`${dashboardUrl}/api/alerts?limit=1`, {
          headers: { authorization: `Bearer ${users.admin.token}` },
        });
        return res.ok;
      },
      60000,
    );
  };

  const stop = async () => {
    await Promise.all([...services, ...(dashboard ? [dashboard] : [])].map((s) => s.stop()));
    if (KEEP_TEST_DATA) return; // to look at topics and tables after a failure
    await deleteTestTopics(kafka, pipeline.allTopics);
    await clickhouseCommand(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
  };

  try {
    await waitUntil('the gateway to be ready', async () => (await fetch(`${gatewayUrl}/readyz`)).ok, 60000);
    await waitUntil(
      `${opts.processors} processors to share the partitions, each advertising its state endpoint`,
      async () => {
        const g = await groupMembers();
        return (
          g.state === 'Stable' &&
          g.members.length === opts.processors &&
          g.members.every((m) => m.endpoint !== undefined) &&
          g.members.flatMap((m) => m.partitions).length === PARTITIONS
        );
      },
      60000,
      500,
    );
    // The desk reads the archive's tables: the sink creates them before it consumes.
    await waitUntil(
      'the sink to create the archive',
      async () =>
        (
          await clickhouse(
            `SELECT name FROM system.columns WHERE database = '${database}' AND table = 'alerts' AND name = 'kafkaOffset'`,
          )
        ).length === 1,
      60000,
      500,
    );
    await startDashboard();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    id,
    kafka,
    database,
    env: dashboardEnv,
    gatewayUrl,
    dashboardUrl,
    dashboardPort,
    users,
    async post(events, headers = {}) {
      const res = await fetch(`${gatewayUrl}/v1/events`, {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          authorization: `Bearer ${GATEWAY_TOKEN}`,
        },
        body: JSON.stringify({ events }),
      });
      const body: unknown = await res.json();
      assert.deepEqual(
        { status: res.status, body },
        { status: 202, body: { accepted: events.length, duplicates: 0 } },
      );
    },
    async ownerOf(userId) {
      const partition = partitionForKey(userId, PARTITIONS);
      const g = await groupMembers();
      const m = g.members.find((m) => m.partitions.includes(partition));
      assert.ok(m?.instance !== undefined && m.endpoint !== undefined, `an owner of partition ${partition}`);
      return { partition, instance: m.instance, endpoint: m.endpoint };
    },
    async killDashboard() {
      await dashboard?.kill();
    },
    startDashboard,
    stop,
  };
};

// --- Takeover sequences -------------------------------------------------------------------------

/** The median of the rule (docs/analysts.md, "The detection rule"), written out plainly. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Takeover {
  userId: string;
  events: Record<string, unknown>[];
  tradeEventId: string;
  alertId: string;
  /** The IP of the session the flagged trade was made in. */
  sessionIp: string;
  /** The IPs of the past sessions, oldest first, repeats included (the state endpoint's list). */
  pastSessionIps: string[];
  /** The median of the trades before the flagged one: the alert's baseline. */
  baseline: number;
  /** The median of every trade including the flagged one: the live state's median afterwards. */
  stateMedian: number;
}

let eventSeq = 0;

/**
 * A stolen account: logins from `homeIps` (in order, so a repeated IP is a repeated session),
 * the normal `trades`, then a login from `newIp` and a trade of `amount`, which must raise one
 * alert (amount > 3 × the median, >= 5 previous trades, newIp none of the past sessions' IPs).
 */
export const takeover = (
  runId: string,
  userId: string,
  o: { homeIps: string[]; trades: number[]; newIp: string; amount: number },
): Takeover => {
  assert.ok(o.trades.length >= 5 && o.amount > 3 * median(o.trades) && !o.homeIps.includes(o.newIp));
  const t0 = Date.now();
  const events: Record<string, unknown>[] = [];
  const ev = (fields: Record<string, unknown>) => {
    eventSeq++;
    const ts = new Date(t0 + events.length).toISOString();
    events.push({ eventId: `${runId}-e${eventSeq}`, userId, ts, ...fields });
  };
  for (const ip of o.homeIps) ev({ type: 'login', ip });
  for (const amount of o.trades) ev({ type: 'trade', amount });
  ev({ type: 'login', ip: o.newIp });
  ev({ type: 'trade', amount: o.amount });
  const tradeEventId = String(events.at(-1)!.eventId);
  return {
    userId,
    events,
    tradeEventId,
    alertId: deriveAlertId(RULE_ID, tradeEventId),
    sessionIp: o.newIp,
    // Every login but the current one is a past session.
    pastSessionIps: [...o.homeIps],
    baseline: median(o.trades),
    stateMedian: median([...o.trades, o.amount]),
  };
};

// --- The alerts topic, as it is committed -------------------------------------------------------

export interface CommittedAlert {
  alertId: string;
  /** The record's timestamp: when the processor produced it (so it was committed later). */
  producedAt: number;
  /** When this watcher read it (so it was committed earlier). */
  seenAt: number;
}

export interface AlertsWatcher {
  alerts: CommittedAlert[];
  stop(): Promise<void>;
}

/** Reads the alerts topic from the beginning, read_committed, and timestamps every alert. */
export const watchAlerts = async (kafka: KafkaClient, topic: string): Promise<AlertsWatcher> => {
  const reader = kafka.partitionReader({ maxWaitMs: 50 });
  const alerts: CommittedAlert[] = [];
  reader.start((batch) => {
    const seenAt = Date.now();
    for (const m of batch.records) {
      const alert = JSON.parse(m.value!.toString()) as Alert;
      alerts.push({ alertId: alert.alertId, producedAt: m.timestamp, seenAt });
    }
  });
  const partitions = await withAdmin(kafka, (admin) => admin.partitionCount(topic));
  for (let partition = 0; partition < partitions; partition++) reader.assign({ topic, partition }, 0);
  return { alerts, stop: () => reader.close() };
};

// --- A proxy between the browser and the desk ---------------------------------------------------

export interface ForwardedRequest {
  at: number;
  method: string;
  path: string;
  lastEventId: string | undefined;
}

export interface CuttableProxy {
  url: string;
  /** Every request head forwarded to the desk, in order. */
  requests: ForwardedRequest[];
  /** Destroys every open connection at once; with `refuse`, new ones too until `resume()`. */
  cut(o?: { refuse?: boolean }): void;
  resume(): void;
  close(): Promise<void>;
}

/**
 * Reads the request heads a client sends (skipping bodies by Content-Length) and reports each.
 * The browser's requests to the desk have no chunked bodies.
 */
const requestSniffer = (report: (r: Omit<ForwardedRequest, 'at'>) => void) => {
  let text = '';
  let skip = 0;
  return (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, text.length);
        text = text.slice(n);
        skip -= n;
        if (skip > 0) return;
      }
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [requestLine = '', ...headers] = text.slice(0, end).split('\r\n');
      text = text.slice(end + 4);
      const header = (name: string) =>
        headers
          .find((h) => h.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const [method = '', target = ''] = requestLine.split(' ');
      report({ method, path: target.split('?')[0]!, lastEventId: header('last-event-id') });
      skip = Number(header('content-length') ?? 0);
    }
  };
};

export const startCuttableProxy = async (targetPort: number): Promise<CuttableProxy> => {
  const sockets = new Set<Socket>();
  const requests: ForwardedRequest[] = [];
  let refusing = false;
  const server: Server = createNetServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const sniff = requestSniffer((r) => requests.push({ at: Date.now(), ...r }));
    // Only what reaches a listening desk counts as a request it got.
    let pending: Buffer[] | null = [];
    client.on('data', (chunk: Buffer) => {
      if (pending !== null) {
        pending.push(chunk);
        return;
      }
      sniff(chunk);
      upstream.write(chunk);
    });
    upstream.on('connect', () => {
      for (const chunk of pending ?? []) {
        sniff(chunk);
        upstream.write(chunk);
      }
      pending = null;
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cut(o = {}) {
      refusing = o.refuse ?? false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    resume() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};
