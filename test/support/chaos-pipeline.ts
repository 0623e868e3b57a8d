// The failure tests' world: every service (gateway, processors, sink) as a child process on a
// private three-broker cluster (kafka-cluster.ts), on topics with three replicas and
// min.insync.replicas=2 that the test creates itself; game servers that post batches and retry
// 503s with the same eventIds, timing every attempt; a watcher that timestamps each alert as it
// is committed; and the exact comparison of alerts and archive with the reference rule applied
// to the events the gateway accepted.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeAlert, RULE_ID, RULE_VERSION, type Alert } from '@tradewatch/shared/alerts';
import { validateIncomingEvent, type GameEvent } from '@tradewatch/shared/events';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { KafkaClient, PartitionReader } from '@tradewatch/shared/kafka-port';
import { createLogger } from '@tradewatch/shared/logger';
import { topicSpecs } from '@tradewatch/shared/topology';
import { TrafficGenerator } from '../../services/simulator/src/traffic-generator.ts';
import {
  freePort,
  CLICKHOUSE_URL,
  KEEP_TEST_DATA,
  clickhouse,
  clickhouseCommand,
  readTopicUntil,
  startService,
  uniqueName,
  waitUntil,
  withAdmin,
  type RunningService,
} from './harness.ts';
import type { KafkaCluster } from './kafka-cluster.ts';
import { referenceAlerts } from './reference-rule.ts';

export const PARTITIONS = 6;
const GAME_SERVER = 'gs-chaos';
const TOKEN = 'chaos-gateway-token';
/** Durable on two of three replicas, as production runs. */

export type Body = Record<string, unknown>;

export interface ServiceCrash {
  name: string;
  code: number | null;
  at: number;
  logFile: string;
  /** The last error or fatal lines of its log: time, level, message and the error's message. */
  lastErrors: string[];
}

/** A log line as `time level msg: err.message`, or the line itself when it is not JSON. */
const errorLine = (line: string): string => {
  try {
    const l = JSON.parse(line) as { time?: string; level?: string; msg?: string; err?: { message?: string } };
    return `${l.time} ${l.level} ${l.msg}: ${l.err?.message ?? ''}`.slice(0, 600);
  } catch {
    return line.slice(0, 600);
  }
};

export interface ChaosPipeline {
  id: string;
  /** A client of the private cluster. */
  kafka: KafkaClient;
  database: string;
  gatewayUrl: string;
  topics: {
    events: string;
    alerts: string;
    changelog: string;
    deadLetters: string;
    labels: string;
    shadowAlerts: string;
    rules: string;
  };
  processorGroup: string;
  /** The running services (a crashed one is replaced by its restart). */
  services: RunningService[];
  /** Services that exited on their own and were started again. */
  crashes(): ServiceCrash[];
  stop(): Promise<void>;
}

/** A client of the private cluster for tests (errors only in the log). */
export const clusterClient = (cluster: KafkaCluster): KafkaClient =>
  createKafkaClient({
    brokers: cluster.brokers,
    clientId: uniqueName('chaos-test'),
    logger: createLogger('chaos-test', 'error'),
  });

/**
 * Creates every topic the services use from the topology, checks that the cluster gave them three
 * replicas and min.insync.replicas=2 (its defaults), then starts gateway, `processors` processors and sink, and waits until they work.
 */
export const startChaosPipeline = async (
  cluster: KafkaCluster,
  opts: { name: string; processors: number },
): Promise<ChaosPipeline> => {
  const kafka = clusterClient(cluster);
  const id = uniqueName(opts.name);
  const database = id.replace(/-/g, '_');
  const topics = {
    events: `${id}.events`,
    alerts: `${id}.alerts`,
    changelog: `${id}.changelog`,
    deadLetters: `${id}.dlq`,
    labels: `${id}.labels`,
    shadowAlerts: `${id}.alerts.shadow`,
    rules: `${id}.rules`,
  };
  const processorGroup = `${id}-processor`;
  // As the services declare them (shared/src/topology.ts); the replication comes from the
  // cluster's defaults, as in production, and is checked below.
  const specs = topicSpecs(topics, { eventsPartitions: PARTITIONS });
  // Asked again on failure: on a loaded machine ensureTopics can read a just-created topic's
  // metadata before it exists ("Unknown topic"), and creating what exists is a no-op.
  await waitUntil(
    'the topics to be created',
    async () => {
      await withAdmin(kafka, (admin) => admin.ensureTopics(specs));
      return true;
    },
    60000,
    500,
  );
  // A new topic reaches every broker's metadata a moment after it is created.
  const md = await waitUntil(
    "the topics in every broker's metadata",
    () => cluster.metadata(Object.values(topics)),
    30000,
    200,
  );
  for (const [topic, parts] of md.topics) {
    assert.ok(
      parts.length > 0 && parts.every((p) => p.replicas.length === 3 && p.isr.length === 3),
      `${topic} has three replicas in sync: ${JSON.stringify(parts)}`,
    );
  }
  const minIsr = await withAdmin(kafka, (admin) => admin.topicConfig(topics.events, ['min.insync.replicas']));
  assert.equal(minIsr['min.insync.replicas'], '2');

  const env: Record<string, string> = {
    KAFKA_BROKERS: cluster.brokers.join(','),
    EVENTS_TOPIC: topics.events,
    ALERTS_TOPIC: topics.alerts,
    LABELS_TOPIC: topics.labels,
    DEAD_LETTER_TOPIC: topics.deadLetters,
    SHADOW_ALERTS_TOPIC: topics.shadowAlerts,
    RULES_TOPIC: topics.rules,
    PROCESSOR_CHANGELOG_TOPIC: topics.changelog,
    PROCESSOR_GROUP_ID: processorGroup,
    SINK_GROUP_ID: `${id}-sink`,
    CLICKHOUSE_DATABASE: database,
    GATEWAY_TOKENS: `${GAME_SERVER}:${TOKEN}`,
    GATEWAY_RATE_LIMIT_EVENTS_PER_SEC: '1000000',
    GATEWAY_REDIS_KEY_PREFIX: `tw:${id}:`,
    // The ledger keys of a run (tens of thousands in the shared Redis) expire soon after it.
    GATEWAY_IDEMPOTENCY_WINDOW_SEC: '900',
  };
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const specsOf: { service: string; env: Record<string, string>; label: string }[] = [
    { service: 'gateway', env: { ...env, GATEWAY_PORT: String(gatewayPort) }, label: `${opts.name}-gateway` },
    ...Array.from({ length: opts.processors }, (_, i) => ({
      service: 'processor',
      env: { ...env, PROCESSOR_INSTANCE_ID: `p${i + 1}` },
      label: `${opts.name}-processor-p${i + 1}`,
    })),
    { service: 'sink', env, label: `${opts.name}-sink` },
  ];
  const services: RunningService[] = [];
  const crashes: ServiceCrash[] = [];
  let running = false;
  let stopping = false;
  let failStartup: ((err: Error) => void) | undefined;
  const startupFailed = new Promise<never>((_, reject) => (failStartup = reject));
  startupFailed.catch(() => undefined); // observed by the startup waits below
  // A supervisor, as production has one: a service that exits is started again (same name, same
  // instance id) and the crash is recorded for the test to fail on.
  const supervise = (i: number) => {
    const spec = specsOf[i]!;
    const s = startService(spec.service, spec.env, spec.label);
    services[i] = s;
    void s.exited.then((code) => {
      if (stopping) return;
      const lastErrors = s
        .log()
        .split('\n')
        .filter((l) => /"level":"(fatal|error)"/.test(l) || /^\w*Error\b/.test(l))
        .slice(-2)
        .map(errorLine);
      crashes.push({ name: s.name, code, at: Date.now(), logFile: s.logFile, lastErrors });
      if (!running) {
        failStartup?.(new Error(`${s.name} exited with code ${code} at start: ${lastErrors.join('\n')}`));
      } else if (crashes.length <= 10) {
        supervise(i);
      }
    });
  };
  specsOf.forEach((_, i) => supervise(i));

  // SIGKILL: the run's topics and tables are thrown away, and a graceful stop of a gateway
  // with a publish still outstanding waits its whole 15 s grace.
  const stop = async () => {
    stopping = true;
    await Promise.all(services.map((s) => s.kill()));
    if (KEEP_TEST_DATA) return;
    await clickhouseCommand(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
  };
  const starting = <T>(work: Promise<T>) => Promise.race([work, startupFailed]);

  try {
    await starting(
      waitUntil('the gateway to be ready', async () => (await fetch(`${gatewayUrl}/readyz`)).ok, 60000),
    );
    await starting(
      waitUntil(
        `${opts.processors} processors to share the ${PARTITIONS} partitions`,
        async () => {
          const g = await withAdmin(kafka, (admin) =>
            admin.describeGroupMembers(processorGroup, topics.events),
          );
          return (
            g.state === 'Stable' &&
            g.members.length === opts.processors &&
            g.members.flatMap((m) => m.partitions).length === PARTITIONS
          );
        },
        60000,
        500,
      ),
    );
    await starting(
      waitUntil(
        'the sink to create the archive',
        async () => {
          const rows = await clickhouse(
            `SELECT name FROM system.tables WHERE database = '${database}' AND name IN ('events', 'alerts')`,
          );
          return rows.length === 2;
        },
        60000,
        500,
      ),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  running = true;
  return {
    id,
    kafka,
    database,
    gatewayUrl,
    topics,
    processorGroup,
    services,
    crashes: () => [...crashes],
    stop,
  };
};

// --- Game servers ------------------------------------------------------------------------------

/** One POST as the game server saw it. */
export interface Attempt {
  loop: string;
  batch: number;
  startedAt: number;
  endedAt: number;
  /** HTTP status; 0 when no answer came (connection refused or reset, client timeout). */
  status: number;
  /** The error code of a non-202 answer. */
  code?: string;
  accepted?: number;
  duplicates?: number;
}

/** A batch the gateway accepted with 202 (perhaps after retries), in the order it was posted. */
export interface AcceptedBatch {
  loop: string;
  batch: number;
  events: Body[];
  firstAttemptAt: number;
  acceptedAt: number;
  /** The POST that was answered 202 (or, by a deliberately wrong client, 503). */
  acceptedBy: Attempt;
  attempts: number;
}

export interface IngestLoopOptions {
  gatewayUrl: string;
  /** Names the game server's players (disjoint from other loops') and eventIds. */
  name: string;
  seed: number;
  users?: number;
  batchSize?: number;
  /** Pause between batches, ms (pacing, not correctness). */
  intervalMs?: number;
  /**
   * Deliberately wrong client for checking that a test can fail: called on a 503, returns true to
   * count the batch as accepted without retrying it.
   */
  countUnavailableAsAccepted?: (attempt: Attempt) => boolean;
}

/**
 * A game server: posts batches one after another, each retried with the same body (same
 * eventIds) after a 503, 429 or no answer until the gateway answers 202. One batch at a time, so
 * the order of a player's events is the order of the batches.
 */
export class IngestLoop {
  readonly attempts: Attempt[] = [];
  readonly accepted: AcceptedBatch[] = [];
  /** Answers other than 202, 429 and 503 (none expected). */
  readonly unexpected: { status: number; at: number; body: unknown }[] = [];
  private readonly o: Required<Omit<IngestLoopOptions, 'countUnavailableAsAccepted'>> &
    Pick<IngestLoopOptions, 'countUnavailableAsAccepted'>;
  private readonly gen: TrafficGenerator;
  private stopping = false;
  private abandoned = false;
  private failure: Error | undefined;
  private done: Promise<void> | undefined;
  private nextBatch = 0;
  /** A pace set by pace(): events per second at most, counted from `since`. */
  private rate: { eventsPerSec: number; since: number; events: number } | undefined;

  constructor(o: IngestLoopOptions) {
    this.o = { users: 120, batchSize: 40, intervalMs: 40, ...o };
    this.gen = new TrafficGenerator({ users: this.o.users, seed: o.seed, takeoverRate: 0.12, runId: o.name });
  }

  start(): void {
    // Kept for stop(): a failure surfaces there, not as an unhandled rejection.
    this.done = this.run().catch((err: unknown) => {
      this.failure = err instanceof Error ? err : new Error(String(err));
    });
  }

  /** Posts at most `eventsPerSec` from now on (undefined: as fast as the answers come). */
  pace(eventsPerSec: number | undefined): void {
    this.rate = eventsPerSec === undefined ? undefined : { eventsPerSec, since: Date.now(), events: 0 };
  }

  /** Stops after the batch in flight is accepted, or at once with `abandon` (a failed test). */
  async stop(abandon = false): Promise<void> {
    this.stopping = true;
    this.abandoned ||= abandon;
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }

  private batchOf(): Body[] {
    return Array.from({ length: this.o.batchSize }, () => {
      const e = this.gen.next(Date.now());
      return { ...e, userId: `${this.o.name}-${e.userId}` };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const batch = this.nextBatch++;
      const events = this.batchOf();
      const body = JSON.stringify({ events });
      const firstAttemptAt = Date.now();
      for (let n = 1; !this.abandoned; n++) {
        const startedAt = Date.now();
        let status = 0;
        let reply: { accepted?: number; duplicates?: number; error?: string } | undefined;
        let retryAfterMs = 250;
        try {
          const res = await fetch(`${this.o.gatewayUrl}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            body,
            signal: AbortSignal.timeout(30000),
          });
          status = res.status;
          reply = (await res.json().catch(() => undefined)) as typeof reply;
          // Retry-After is in whole seconds (1); sooner measures the recovery more finely.
          retryAfterMs = Math.min(250, 1000 * Number(res.headers.get('retry-after') ?? 0.25));
        } catch {
          status = 0; // no answer: the game server does not know, and sends the same body again
        }
        const attempt: Attempt = { loop: this.o.name, batch, startedAt, endedAt: Date.now(), status };
        if (reply?.error !== undefined) attempt.code = reply.error;
        if (status === 202) {
          attempt.accepted = reply?.accepted ?? -1;
          attempt.duplicates = reply?.duplicates ?? -1;
        }
        this.attempts.push(attempt);
        const sabotaged = status === 503 && this.o.countUnavailableAsAccepted?.(attempt) === true;
        if (status === 202 || sabotaged) {
          if (status === 202) {
            assert.equal(attempt.accepted! + attempt.duplicates!, events.length, 'a 202 answers every event');
          }
          this.accepted.push({
            loop: this.o.name,
            batch,
            events,
            firstAttemptAt,
            acceptedAt: attempt.endedAt,
            acceptedBy: attempt,
            attempts: n,
          });
          break;
        }
        // Anything else (a 500) is wrong, and the test says so at the end; the same body is sent
        // again meanwhile (the eventIds make that safe) to see when the gateway recovers.
        if (status !== 503 && status !== 429 && status !== 0) {
          this.unexpected.push({ status, at: attempt.endedAt, body: reply });
        }
        await sleep(retryAfterMs);
      }
      const rate = this.rate;
      if (rate === undefined) {
        await sleep(this.o.intervalMs);
      } else {
        rate.events += events.length;
        const due = rate.since + (rate.events / rate.eventsPerSec) * 1000;
        await sleep(Math.max(this.o.intervalMs, due - Date.now()));
      }
    }
  }
}

// --- The alerts topic as it is committed ---------------------------------------------------------

export interface SeenAlert {
  alert: Alert;
  /** When the watcher read it, read_committed: it was committed by then. */
  seenAt: number;
}

export interface AlertsWatcher {
  alerts: SeenAlert[];
  /** Reader failures the watcher rode through by starting a new reader. */
  readerFailures: string[];
  stop(): Promise<void>;
}

/** Reads the alerts topic from the start, read_committed, timestamping each alert. */
export const watchAlerts = (kafka: KafkaClient, topic: string): AlertsWatcher => {
  const alerts: SeenAlert[] = [];
  const readerFailures: string[] = [];
  const next = new Map<number, number>();
  let stopped = false;
  let reader: PartitionReader | undefined;
  const open = () => {
    const r = kafka.partitionReader({ maxWaitMs: 50 });
    reader = r;
    r.start((batch) => {
      const seenAt = Date.now();
      for (const m of batch.records) alerts.push({ alert: decodeAlert(m.value!), seenAt });
      next.set(batch.partition, batch.nextOffset);
    });
    for (let partition = 0; partition < PARTITIONS; partition++) {
      r.assign({ topic, partition }, next.get(partition) ?? 0);
    }
    // A test client must not fail with the cluster: a new reader goes on where this one was.
    r.failed.catch((err: unknown) => {
      if (stopped) return;
      readerFailures.push(String(err));
      void r.close().catch(() => undefined);
      open();
    });
  };
  open();
  return {
    alerts,
    readerFailures,
    stop: async () => {
      stopped = true;
      await reader?.close();
    },
  };
};

// --- What a failure costs ------------------------------------------------------------------------

const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** When the first 202 came for a POST sent at or after `t` (Infinity: none yet). */
export const first202SentAfter = (loops: readonly IngestLoop[], t: number): number =>
  loops
    .flatMap((l) => l.attempts)
    .filter((a) => a.status === 202 && a.startedAt >= t)
    .reduce((m, a) => Math.min(m, a.endedAt), Infinity);

/** When the first alert was read for a trade first posted at or after `t` (Infinity: none yet). */
export const firstAlertPostedAfter = (
  loops: readonly IngestLoop[],
  watcher: AlertsWatcher,
  t: number,
): number => {
  const firstPost = new Map<string, number>();
  for (const l of loops) {
    for (const b of l.accepted) for (const e of b.events) firstPost.set(String(e.eventId), b.firstAttemptAt);
  }
  return watcher.alerts
    .filter((s) => (firstPost.get(s.alert.tradeEventId) ?? 0) >= t)
    .reduce((m, s) => Math.min(m, s.seenAt), Infinity);
};

export interface FailureCost {
  /** From the fault to the first 202 for a POST sent after it. */
  gatewayRecoveryMs: number;
  /** From the fault to the first alert committed for a trade first posted after it. */
  alertsRecoveryMs: number;
  /** The longest time without any 202, across the fault. */
  longestGapWithout202Ms: number;
  /** 503s answered from the fault on, by error code. */
  unavailable: Record<string, number>;
  /** POSTs with no answer at all (connection refused or reset, client timeout). */
  noAnswer: number;
  postLatencyBeforeMs: { p50: number; p99: number; max: number };
  /** The slowest single POST from the fault on. */
  postLatencyMaxAfterMs: number;
  /** The longest a batch took from its first POST to its 202 (what a game server waits). */
  batchDelayMaxMs: number;
}

/** Measures, from the game servers' attempts and the alert watcher, what the fault at `faultAt` cost. */
export const failureCost = (
  loops: readonly IngestLoop[],
  watcher: AlertsWatcher,
  faultAt: number,
): FailureCost => {
  const attempts = loops.flatMap((l) => l.attempts);
  const before = attempts.filter((a) => a.endedAt < faultAt && a.status === 202);
  const after = attempts.filter((a) => a.endedAt >= faultAt);
  const oks = attempts
    .filter((a) => a.status === 202)
    .map((a) => a.endedAt)
    .sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < oks.length; i++) if (oks[i]! >= faultAt) gap = Math.max(gap, oks[i]! - oks[i - 1]!);
  const unavailable: Record<string, number> = {};
  for (const a of after)
    if (a.status === 503) unavailable[a.code ?? '?'] = (unavailable[a.code ?? '?'] ?? 0) + 1;
  const lat = before.map((a) => a.endedAt - a.startedAt);
  return {
    gatewayRecoveryMs: first202SentAfter(loops, faultAt) - faultAt,
    alertsRecoveryMs: firstAlertPostedAfter(loops, watcher, faultAt) - faultAt,
    longestGapWithout202Ms: gap,
    unavailable,
    noAnswer: after.filter((a) => a.status === 0).length,
    postLatencyBeforeMs: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat) },
    postLatencyMaxAfterMs: Math.max(0, ...after.map((a) => a.endedAt - a.startedAt)),
    batchDelayMaxMs: Math.max(
      0,
      ...loops.flatMap((l) =>
        l.accepted.filter((b) => b.acceptedAt >= faultAt).map((b) => b.acceptedAt - b.firstAttemptAt),
      ),
    ),
  };
};

// --- The exact comparison ------------------------------------------------------------------------

/**
 * Compares an archive table with the rows it should hold inside ClickHouse: the expected rows
 * are loaded into a table of the same structure, and ClickHouse counts what is missing, what is
 * extra (a row that differs in any compared column is both) and what is archived more than once
 * (FINAL), with the first few of each. A soak's millions of rows never cross the wire back.
 */
const compareArchived = async (
  db: string,
  table: string,
  key: string,
  columns: readonly string[],
  expected: readonly Record<string, unknown>[],
  what: string,
  /** A Float64 column compared on its own, to within this relative difference. */
  close?: { column: string; within: number },
): Promise<void> => {
  const want = `${db}.expected_${table}`;
  const loaded = close === undefined ? columns : [...columns, close.column];
  // Every request below can be sent again: the expected table is only ever compared as a set.
  // A request on a kept-alive connection that ClickHouse closed meanwhile (its keep-alive is 3 s,
  // and a soak's multi-gigabyte heap can pause the event loop longer) fails before it is read.
  const send = async (stage: string, sql: string, body?: string): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${CLICKHOUSE_URL}/?query=${encodeURIComponent(sql)}`, {
          method: 'POST',
          ...(body === undefined ? {} : { body }),
          signal: AbortSignal.timeout(300000),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`ClickHouse: ${stage}: ${text.slice(0, 300)}`);
        return text;
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        if (!(err instanceof TypeError) || attempt === 3) {
          if (e.message.startsWith('ClickHouse: ')) throw err;
          throw new Error(
            `ClickHouse: ${stage}: ${e.message} (${e.cause?.code ?? e.cause?.message ?? 'no cause'})`,
            {
              cause: err,
            },
          );
        }
      }
    }
  };
  const rowsOf = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const q = async (stage: string, sql: string) => rowsOf(await send(stage, `${sql} FORMAT JSONEachRow`));
  await send(`dropping ${want}`, `DROP TABLE IF EXISTS ${want}`);
  await send(`creating ${want}`, `CREATE TABLE IF NOT EXISTS ${want} AS ${db}.${table} ENGINE = Memory`);
  try {
    for (let i = 0; i < expected.length; i += 100000) {
      const body = expected
        .slice(i, i + 100000)
        .map((r) => JSON.stringify(r))
        .join('\n');
      await send(
        `loading rows ${i}-${i + 99999} into ${want}`,
        `INSERT INTO ${want} (${loaded.join(', ')}) FORMAT JSONEachRow`,
        body,
      );
    }
    const tuple = `(${columns.join(', ')})`;
    const archived = `SELECT ${columns.join(', ')} FROM ${db}.${table} FINAL`;
    const [counts] = await q(
      `comparing ${table} with ${want}`,
      `SELECT
         (SELECT count() FROM ${want} WHERE ${tuple} NOT IN (${archived})) AS missing,
         (SELECT count() FROM (${archived}) WHERE ${tuple} NOT IN (SELECT ${columns.join(', ')} FROM ${want})) AS extra,
         (SELECT count() - uniqExact(${key}) FROM ${db}.${table} FINAL) AS repeated,
         (SELECT count() FROM ${db}.${table} FINAL) AS rows`,
    );
    const missing = Number(counts!.missing);
    const extra = Number(counts!.extra);
    const repeated = Number(counts!.repeated);
    let apart: Record<string, unknown>[] = [];
    if (close !== undefined) {
      const c = close.column;
      apart = await q(
        `comparing ${table}.${c}`,
        `SELECT ${key}, ${c}, want FROM (SELECT ${key}, ${c} FROM ${db}.${table} FINAL)
         ANY INNER JOIN (SELECT ${key}, ${c} AS want FROM ${want}) USING ${key}
         WHERE abs(${c} - want) > ${close.within} * abs(want) LIMIT 3`,
      );
    }
    if (missing + extra + repeated + apart.length === 0) return;
    const firstMissing = await q(
      'the first rows missing',
      `SELECT ${columns.join(', ')} FROM ${want} WHERE ${tuple} NOT IN (${archived}) LIMIT 3`,
    );
    const firstExtra = await q(
      'the first rows extra',
      `SELECT * FROM (${archived}) WHERE ${tuple} NOT IN (SELECT ${columns.join(', ')} FROM ${want}) LIMIT 3`,
    );
    assert.fail(
      `${what}: ${String(counts!.rows)} rows, ${expected.length} expected; ` +
        JSON.stringify({
          missing: { count: missing, first: firstMissing },
          extra: { count: extra, first: firstExtra },
          repeated,
          ...(close === undefined ? {} : { [`${close.column} apart`]: apart }),
        }),
    );
  } finally {
    if (!KEEP_TEST_DATA) await clickhouseCommand(`DROP TABLE IF EXISTS ${want}`).catch(() => undefined);
  }
};

/**
 * deepEqual of two lists of rows keyed by `key`, failing with what differs (missing, extra, and
 * the first rows that differ) rather than a diff truncated after a hundred rows.
 */
export const assertSameRows = <T extends object>(
  actual: readonly T[],
  expected: readonly T[],
  key: (row: T) => string,
  what: string,
): void => {
  const want = new Map(expected.map((r) => [key(r), r]));
  const got = new Map<string, T>();
  const repeated: string[] = [];
  for (const r of actual) {
    if (got.has(key(r))) repeated.push(key(r));
    got.set(key(r), r);
  }
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  const differing = [...want]
    .filter(([k, r]) => got.has(k) && !isDeepStrictEqual(got.get(k), r))
    .map(([k, r]) => ({ expected: r, actual: got.get(k) }));
  if (repeated.length + missing.length + extra.length + differing.length === 0) return;
  assert.fail(
    `${what}: ${actual.length} rows, ${expected.length} expected; ` +
      JSON.stringify({
        repeated: { count: repeated.length, first: repeated.slice(0, 5) },
        missing: { count: missing.length, first: missing.slice(0, 5) },
        extra: { count: extra.length, first: extra.slice(0, 5) },
        differing: { count: differing.length, first: differing.slice(0, 3) },
      }),
  );
};

/** The accepted events in posting order, as the gateway normalises them. */
export const acceptedEvents = (batches: readonly AcceptedBatch[]): GameEvent[] =>
  batches.flatMap((b) =>
    b.events.map((raw) => {
      const r = validateIncomingEvent(raw, { gameServerId: GAME_SERVER, receivedAt: b.firstAttemptAt });
      assert.ok(r.ok, `a generated event is valid: ${JSON.stringify(raw)}`);
      return r.value;
    }),
  );

export interface ExactnessReport {
  events: number;
  alerts: number;
  /** Extra copies of accepted events on the events topic (the consumers drop them by eventId). */
  topicDuplicates: number;
}

/**
 * Checks the outcome exactly: the events topic holds every accepted event (read_committed) and
 * nothing else; the alerts topic holds exactly the reference's alerts over the accepted events,
 * every field (detectedAt: between the trade's first POST and when the alert was read); the
 * archive holds exactly one row per distinct accepted event and per reference alert, equal field
 * by field. Fails with every comparison that did not hold.
 * `batches` are the accepted batches of all game servers, each server's in posting order; the
 * servers' players are disjoint, so the rule sees each player's events in that order.
 */
export const assertExactlyOnce = async (
  p: ChaosPipeline,
  batches: readonly AcceptedBatch[],
): Promise<ExactnessReport> => {
  const events = acceptedEvents(batches);
  // Reading back a soak's millions of records takes minutes, a chaos test's thousands seconds.
  const readTimeoutMs = Math.max(60000, events.length / 20);
  const byId = new Map(events.map((e) => [e.eventId, e]));
  assert.equal(byId.size, events.length, 'every generated eventId is distinct');
  const firstPost = new Map<string, number>();
  for (const b of batches) for (const e of b.events) firstPost.set(String(e.eventId), b.firstAttemptAt);
  // Every comparison runs and every one that fails is reported: one run tells all that broke.
  const failures: string[] = [];
  const check = async (fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      failures.push((err as Error).message);
    }
  };

  // Durability: every event answered 202 is on the topic, and nothing that was not.
  const seen = new Map<string, number>();
  await check(() =>
    readTopicUntil(
      p.kafka,
      p.topics.events,
      (records) => {
        for (const r of records.splice(0)) {
          const id = (JSON.parse(r.value!.toString()) as { eventId: string }).eventId;
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        return [...byId.keys()].every((id) => seen.has(id));
      },
      { timeoutMs: readTimeoutMs },
    ).catch(() => {
      const missing = [...byId.keys()].filter((id) => !seen.has(id));
      assert.fail(
        `accepted events missing from the events topic: ${missing.length} (${missing.slice(0, 5).join(', ')})`,
      );
    }),
  );
  const strangers = [...seen.keys()].filter((id) => !byId.has(id));
  await check(() =>
    assert.ok(
      strangers.length === 0,
      `the events topic holds ${strangers.length} events that were not accepted (${strangers.slice(0, 5).join(', ')})`,
    ),
  );
  const topicDuplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);

  const expected = referenceAlerts(events).map((a) => ({
    ...a,
    rule: RULE_ID,
    ruleVersion: RULE_VERSION,
    tradeTs: byId.get(a.tradeEventId)!.ts,
    factor: a.amount / a.baseline,
    gameServerId: GAME_SERVER,
  }));

  // The alerts topic, read_committed, until it has been quiet for 3 s with at least the expected.
  let records: readonly { value: Buffer | null }[] = [];
  let quietSince = Date.now();
  await check(() =>
    readTopicUntil(
      p.kafka,
      p.topics.alerts,
      (r) => {
        if (r.length !== records.length) quietSince = Date.now();
        records = r;
        return r.length >= expected.length && Date.now() - quietSince >= 3000;
      },
      { timeoutMs: readTimeoutMs },
    ).catch(() => assert.fail(`the alerts topic held ${records.length} alerts, ${expected.length} expected`)),
  );
  const alerts = [...records].map((r) => decodeAlert(r.value!));
  const readAt = Date.now();
  await check(() => {
    const off = alerts.filter((a) => {
      const posted = firstPost.get(a.tradeEventId);
      return posted === undefined || a.detectedAt < posted || a.detectedAt > readAt;
    });
    assert.ok(off.length === 0, `${off.length} alerts detected outside [their trade's first POST, now]`);
  });
  await check(() =>
    assertSameRows(
      alerts.map(({ detectedAt: _, ...rest }) => rest),
      expected,
      (a) => a.alertId,
      'the alerts topic holds exactly the reference alerts',
    ),
  );

  // The archive, after ReplacingMergeTree's FINAL.
  const db = p.database;
  await waitUntil(
    'ClickHouse to hold every accepted event and every alert',
    async () => {
      const [e] = await clickhouse<{ c: string }>(`SELECT count() AS c FROM ${db}.events FINAL`);
      const [a] = await clickhouse<{ c: string }>(`SELECT count() AS c FROM ${db}.alerts FINAL`);
      return Number(e!.c) >= byId.size && Number(a!.c) >= expected.length;
    },
    60000,
    500,
  ).catch(() => undefined); // what is there is compared below
  await check(() =>
    compareArchived(
      db,
      'events',
      'eventId',
      ['eventId', 'type', 'userId', 'tsMs', 'ip', 'amountMicros', 'currency', 'itemId', 'gameServerId'],
      [...byId.values()].map((e) => ({
        eventId: e.eventId,
        type: e.type,
        userId: e.userId,
        tsMs: e.ts,
        ip: e.ip ?? '',
        amountMicros: e.type === 'trade' ? Math.round(e.amount * 1e6) : 0,
        currency: e.type === 'trade' ? (e.currency ?? '') : '',
        itemId: e.type === 'trade' ? (e.itemId ?? '') : '',
        gameServerId: GAME_SERVER,
      })),
      'the archive holds one row per distinct accepted event, equal to it',
    ),
  );
  // detectedAt is the processor's: the archive's is the one on the topic. ClickHouse 18.16 reads
  // and prints Float64 to within a unit in the last place (13.69555689889678 comes back as
  // 13.695556898896779): factor is compared on its own, to 1e-12.
  const detectedAt = new Map(alerts.map((a) => [a.alertId, a.detectedAt]));
  await check(() =>
    compareArchived(
      db,
      'alerts',
      'alertId',
      [
        'alertId',
        'rule',
        'ruleVersion',
        'userId',
        'tradeEventId',
        'tradeTsMs',
        'amountMicros',
        'baselineMicros',
        'ip',
        'knownIps',
        'previousTrades',
        'gameServerId',
        'detectedAtMs',
      ],
      expected.map((a) => ({
        alertId: a.alertId,
        rule: a.rule,
        ruleVersion: a.ruleVersion,
        userId: a.userId,
        tradeEventId: a.tradeEventId,
        tradeTsMs: a.tradeTs,
        amountMicros: Math.round(a.amount * 1e6),
        baselineMicros: Math.round(a.baseline * 1e6),
        ip: a.ip,
        knownIps: a.knownIps,
        previousTrades: a.previousTrades,
        gameServerId: a.gameServerId,
        // Not on the topic: 0 never matches an archived alert.
        detectedAtMs: detectedAt.get(a.alertId) ?? 0,
        factor: a.factor,
      })),
      'the archive holds one row per reference alert, equal to it (detectedAt as on the topic)',
      { column: 'factor', within: 1e-12 },
    ),
  );
  if (failures.length > 0) assert.fail(failures.join('\n'));
  return { events: byId.size, alerts: alerts.length, topicDuplicates };
};
