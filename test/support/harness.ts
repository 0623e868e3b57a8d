// The one test-support module of every integration and end-to-end test (and the benchmarks):
// waiting on conditions with deadlines, unique names, a free port, clients of the test Kafka and
// ClickHouse, a pipeline's private names and its topics created from the topology, producing and
// reading topics the way a user would, services as child processes, and private Kafka and
// ClickHouse servers for the outage tests. Services' tests import it by path.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClickHouse, type ClickHouseClient } from '@tradewatch/shared/clickhouse';
import { EnvReader, LOG_LEVELS } from '@tradewatch/shared/config';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { createLogger, type Logger } from '@tradewatch/shared/logger';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type {
  ConsumedRecord,
  KafkaAdmin,
  KafkaClient,
  OutgoingRecord,
  Producer,
  TopicSpec,
} from '@tradewatch/shared/kafka-port';
import {
  defaultChangelogTopic,
  defaultSandboxTopic,
  TOPIC_ROLES,
  topicSpecs,
  type TopicNames,
  type TopicRole,
  type TopologySizes,
} from '@tradewatch/shared/topology';

/** A record read by a test: where it was, and what it holds. */
export interface TopicRecord extends ConsumedRecord {
  readonly partition: number;
}

/** A record for a test to produce, to the topic it is produced to. */
export interface TestRecord {
  key: string | Buffer | null;
  value: string | Buffer | null;
  partition?: number;
  headers?: Record<string, string>;
}

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the tests find the infrastructure, read as the services read their settings. */
const testEnv = (() => {
  const r = new EnvReader(process.env);
  return r.finish('test', {
    brokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
    clickhouseUrl: r
      .url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:'])
      .href.replace(/\/$/, ''),
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']).href.replace(/\/$/, ''),
    dataDir: r.string('TRADEWATCH_DATA_DIR', join(ROOT, '.data')),
    /** Leave an end-to-end test's topics and tables, to look at them after a failure. */
    keepData: r.bool('KEEP_TEST_DATA', false),
    /** The level of the tests' own loggers (silent unless set) and of the services they start. */
    logLevel:
      r.optionalString('TEST_LOG_LEVEL') === undefined
        ? undefined
        : r.oneOf('TEST_LOG_LEVEL', LOG_LEVELS, 'silent'),
  });
})();

export const BROKERS: readonly string[] = testEnv.brokers;
export const CLICKHOUSE_URL = testEnv.clickhouseUrl;
export const REDIS_URL = testEnv.redisUrl;
export const KEEP_TEST_DATA = testEnv.keepData;
/** TEST_LOG_LEVEL, when set. */
export const TEST_LOG_LEVEL = testEnv.logLevel;
const LOG_DIR = join(testEnv.dataDir, 'logs', 'tests');

/** A client of the tests' ClickHouse (or of `url`, a private one). */
export const testClickHouse = (url: string = CLICKHOUSE_URL): ClickHouseClient =>
  createClickHouse({ url, application: 'tradewatch-tests' });

/** A logger for a test's own clients and in-process services: silent unless TEST_LOG_LEVEL says. */
export const testLogger = (name: string): Logger => createLogger(name, TEST_LOG_LEVEL ?? 'silent');

/** A TCP port free on 127.0.0.1 right now (another process may still take it before use). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

export const uniqueName = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** A Kafka client of the tests' broker (or of `brokers`, a private one); errors only in its log. */
export const testKafka = (opts: { brokers?: readonly string[]; logger?: Logger } = {}): KafkaClient =>
  createKafkaClient({
    brokers: [...(opts.brokers ?? BROKERS)],
    clientId: uniqueName('test'),
    logger: opts.logger ?? createLogger('test', 'error'),
  });

export const withAdmin = async <T>(kafka: KafkaClient, fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> => {
  const admin = kafka.admin();
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
};

/** Topics that are not the product's (a test's scratch topics); the product's: createTestTopology. */
export const createTestTopics = (kafka: KafkaClient, topics: TopicSpec[]) =>
  withAdmin(kafka, (admin) => admin.ensureTopics(topics));

/**
 * Creates the named topics of a test as the services create them (shared/src/topology.ts);
 * `partitions` gives a role another count where the test wants one (e.g. fewer alerts
 * partitions than events partitions).
 */
export const createTestTopology = (
  kafka: KafkaClient,
  names: TopicNames,
  sizes: TopologySizes & { partitions?: Partial<Record<TopicRole, number>> } = {},
) =>
  withAdmin(kafka, (admin) =>
    admin.ensureTopics(
      TOPIC_ROLES.flatMap((role) => {
        const partitions = sizes.partitions?.[role];
        const eventsPartitions = partitions ?? sizes.eventsPartitions;
        return topicSpecs(
          { [role]: names[role] },
          eventsPartitions === undefined ? {} : { eventsPartitions },
        ).map((spec) => ({ ...spec, partitions: partitions ?? spec.partitions }));
      }),
    ),
  );

/** The variables that name a pipeline's topics, groups and database. */
// A type, not an interface: it is given where a Record<string, string> is asked for.
export type PipelineEnv = {
  EVENTS_TOPIC: string;
  ALERTS_TOPIC: string;
  SHADOW_ALERTS_TOPIC: string;
  RULES_TOPIC: string;
  LABELS_TOPIC: string;
  DEAD_LETTER_TOPIC: string;
  PROCESSOR_GROUP_ID: string;
  SINK_GROUP_ID: string;
  CLICKHOUSE_DATABASE: string;
};

/** The topics, groups and database of one test's own pipeline, and the environment naming them. */
export interface TestPipeline {
  id: string;
  topics: Readonly<Record<TopicRole, string>>;
  processorGroup: string;
  sinkGroup: string;
  database: string;
  /** What every service of the pipeline is given. */
  env: Readonly<PipelineEnv>;
  /** Every topic the pipeline's services may create, for the clean-up. */
  allTopics: readonly string[];
}

/**
 * Private names for a test's pipeline: `<label>-<unique>.events` and so on, the changelog and the
 * sandbox topic named as the processor and the gateway name them by default.
 */
export const testPipeline = (label: string): TestPipeline => {
  const id = uniqueName(label);
  const processorGroup = `${id}-processor`;
  const events = `${id}.events`;
  const topics = {
    events,
    alerts: `${id}.alerts`,
    shadowAlerts: `${id}.alerts.shadow`,
    rules: `${id}.rules`,
    labels: `${id}.labels`,
    changelog: defaultChangelogTopic(processorGroup),
    deadLetters: `${id}.dlq`,
    sandbox: defaultSandboxTopic(events),
  };
  const sinkGroup = `${id}-sink`;
  const database = id.replace(/[^A-Za-z0-9_]/g, '_');
  return {
    id,
    topics,
    processorGroup,
    sinkGroup,
    database,
    env: {
      EVENTS_TOPIC: topics.events,
      ALERTS_TOPIC: topics.alerts,
      SHADOW_ALERTS_TOPIC: topics.shadowAlerts,
      RULES_TOPIC: topics.rules,
      LABELS_TOPIC: topics.labels,
      DEAD_LETTER_TOPIC: topics.deadLetters,
      PROCESSOR_GROUP_ID: processorGroup,
      SINK_GROUP_ID: sinkGroup,
      CLICKHOUSE_DATABASE: database,
    },
    allTopics: Object.values(topics),
  };
};

/** Processors whose group notices a dead instance in seconds (6 s session, 500 ms heartbeats). */
export const FAST_PROCESSOR_GROUP: Readonly<Record<string, string>> = {
  PROCESSOR_SESSION_TIMEOUT_MS: '6000',
  PROCESSOR_HEARTBEAT_INTERVAL_MS: '500',
};

export const deleteTestTopics = (kafka: KafkaClient, topics: readonly string[]) =>
  withAdmin(kafka, (admin) => admin.deleteTopics(topics)).catch(() => undefined);

/** Waits until `check` returns a truthy value (which it returns), failing after the deadline. */
export const waitUntil = async <T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30000,
  everyMs = 200,
): Promise<NonNullable<T>> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`,
      );
    }
    await sleep(everyMs);
  }
};

/** The offsets `groupId` committed on `topic`, summed over its partitions. */
export const committedTotal = (kafka: KafkaClient, groupId: string, topic: string): Promise<number> =>
  withAdmin(kafka, async (admin) =>
    [...(await admin.committedOffsets(groupId, topic)).values()].reduce((n, o) => n + o, 0),
  );

/**
 * The end of every partition of `topic` (read_committed), by partition, once `groupId` has
 * committed all of it; undefined until then.
 */
export const groupCaughtUp = (
  kafka: KafkaClient,
  groupId: string,
  topic: string,
): Promise<Map<number, number> | undefined> =>
  withAdmin(kafka, async (admin) => {
    const [ends, committed] = await Promise.all([
      admin.watermarks(topic),
      admin.committedOffsets(groupId, topic),
    ]);
    const done = ends.every((e) => committed.get(e.partition) === e.high);
    return done ? new Map(ends.map((e) => [e.partition, Number(e.high)])) : undefined;
  });

export interface RunningService {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL: a crash at an arbitrary moment. */
  kill(): Promise<void>;
  log(): string;
}

/** Runs a service's main.ts as a child process on Node 24 with the given environment. */
export const startService = (
  service: string,
  env: Record<string, string>,
  label = service,
): RunningService => {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${uniqueName(label)}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(ROOT, `services/${service}/src/main.ts`)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', STATS_INTERVAL_MS: '0', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name: label,
    child,
    logFile,
    exited,
    async stop() {
      if (running()) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    log: () => readFileSync(logFile, 'utf8'),
  };
};

/** A processor of a test's pipeline as a child process: instance `instance`, its log labelled `label`. */
export const startProcessor = (
  env: Readonly<Record<string, string>>,
  instance: string,
  label = `processor-${instance}`,
): RunningService => startService('processor', { ...env, PROCESSOR_INSTANCE_ID: instance }, label);

/** A topic read while a test runs: every partition from the beginning (read_committed), without a group. */
export interface TopicTail {
  /** What has been read so far, in read order per partition. */
  readonly records: TopicRecord[];
  /** Waits until `done` holds of the records read. */
  until(
    what: string,
    done: (records: TopicRecord[]) => boolean,
    timeoutMs?: number,
    everyMs?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

export const tailTopic = async (kafka: KafkaClient, topic: string): Promise<TopicTail> => {
  const partitions = await withAdmin(kafka, (admin) => admin.partitionCount(topic));
  const reader = kafka.partitionReader({ maxWaitMs: 100 });
  const records: TopicRecord[] = [];
  reader.start((batch) => {
    for (const r of batch.records) records.push({ ...r, partition: batch.partition });
  });
  for (let partition = 0; partition < partitions; partition++) reader.assign({ topic, partition }, 0);
  return {
    records,
    until: async (what, done, timeoutMs = 30000, everyMs = 200) => {
      await waitUntil(`${what} (${records.length} read)`, () => done(records), timeoutMs, everyMs);
    },
    close: () => reader.close(),
  };
};

/** Reads a whole topic from the beginning (read_committed) until `done` holds. */
export const readTopicUntil = async (
  kafka: KafkaClient,
  topic: string,
  done: (records: TopicRecord[]) => boolean,
  opts: { timeoutMs?: number; everyMs?: number } = {},
): Promise<TopicRecord[]> => {
  const tail = await tailTopic(kafka, topic);
  try {
    await tail.until(`${topic} to reach the expected content`, done, opts.timeoutMs, opts.everyMs);
    return tail.records;
  } finally {
    await tail.close();
  }
};

/** Reads a topic until it has been quiet for `quietMs` after reaching at least `min` records. */
export const readTopicSettled = async (
  kafka: KafkaClient,
  topic: string,
  min: number,
  quietMs = 1500,
  timeoutMs = 60000,
) => {
  let lastCount = -1;
  let lastChange = Date.now();
  return readTopicUntil(
    kafka,
    topic,
    (m) => {
      if (m.length !== lastCount) {
        lastCount = m.length;
        lastChange = Date.now();
      }
      return m.length >= min && Date.now() - lastChange >= quietMs;
    },
    { timeoutMs },
  );
};

/** Events keyed by their user, as the gateway writes them. */
export const produceEvents = (
  kafka: KafkaClient,
  topic: string,
  events: readonly GameEvent[],
): Promise<void> =>
  produce(
    kafka,
    topic,
    events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
  );

/** Produces with the gateway's producer settings, `chunk` records a send. */
export const produce = async (
  kafka: KafkaClient,
  topic: string,
  messages: readonly TestRecord[],
  chunk = 1000,
): Promise<void> => {
  const producer = kafka.producer();
  try {
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.send(messages.slice(i, i + chunk).map((m) => ({ topic, ...m })));
    }
  } finally {
    await producer.close();
  }
};

/**
 * Sends `count` records made by `make`, `chunk` a request with four requests in flight: as fast as
 * the producer goes (the benchmarks' loads). Returns records/s.
 */
export const produceFast = async (
  producer: Producer,
  topic: string,
  count: number,
  make: (i: number) => Omit<OutgoingRecord, 'topic'>,
  chunk: number,
): Promise<number> => {
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i += chunk) {
    const records: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(count, i + chunk); j++) records.push({ topic, ...make(j) });
    const p = producer.send(records).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return count / ((performance.now() - started) / 1000);
};

/** Runs a query on ClickHouse over HTTP and returns its JSONEachRow rows. */
export const clickhouse = async <T = Record<string, unknown>>(
  sql: string,
  opts: { timeoutMs?: number } = {},
): Promise<T[]> => {
  const res = await fetch(`${CLICKHOUSE_URL}/?query=${encodeURIComponent(`${sql} FORMAT JSONEachRow`)}`, {
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text.slice(0, 300)}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
};

export const clickhouseCommand = async (sql: string): Promise<void> => {
  const res = await fetch(CLICKHOUSE_URL, { method: 'POST', body: sql, signal: AbortSignal.timeout(10000) });
  if (!res.ok) throw new Error(`ClickHouse: ${(await res.text()).slice(0, 300)}`);
};

/**
 * A part of the infrastructure of this test alone — infra/infra.sh's `kafka` or `clickhouse`,
 * with its own data directory and free ports — so that stopping it disturbs nobody else's tests.
 * `down` and `up` stop it (by the pid infra.sh recorded in that directory) and start it again
 * with its data; `destroy` stops it and removes the directory.
 */
class PrivateServer {
  private readonly component: 'kafka' | 'clickhouse';
  private readonly dataDir: string;
  protected readonly env: NodeJS.ProcessEnv;
  protected constructor(component: 'kafka' | 'clickhouse', dataDir: string, env: Record<string, string>) {
    this.component = component;
    this.dataDir = dataDir;
    this.env = { ...process.env, TRADEWATCH_DATA_DIR: dataDir, ...env };
  }

  protected static dataDir(component: string): Promise<string> {
    return mkdtemp(join(tmpdir(), `tradewatch-test-${component}-`));
  }

  private infra(cmd: 'up' | 'down'): Promise<unknown> {
    return promisify(execFile)(join(ROOT, 'infra/infra.sh'), [cmd, this.component], {
      env: this.env,
      timeout: 120000,
    });
  }

  up(): Promise<unknown> {
    return this.infra('up');
  }

  down(): Promise<unknown> {
    return this.infra('down');
  }

  async destroy(): Promise<void> {
    await this.down().catch(() => undefined);
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Starts it; a server that does not come up is destroyed. */
  protected async started(): Promise<this> {
    try {
      await this.up();
    } catch (err) {
      await this.destroy();
      throw err;
    }
    return this;
  }
}

/** A single-node Kafka of this test alone. */
export class PrivateKafka extends PrivateServer {
  readonly brokers: string;
  private constructor(dataDir: string, port: number, controllerPort: number) {
    const brokers = `127.0.0.1:${port}`;
    super('kafka', dataDir, {
      KAFKA_BROKERS: brokers,
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_HEAP_OPTS: '-Xmx512m -Xms128m',
    });
    this.brokers = brokers;
  }

  static async start(): Promise<PrivateKafka> {
    const dir = await PrivateServer.dataDir('kafka');
    return new PrivateKafka(dir, await freePort(), await freePort()).started();
  }
}

/** A ClickHouse server of this test alone. */
export class PrivateClickHouse extends PrivateServer {
  readonly url: string;
  private constructor(dataDir: string, httpPort: number, tcpPort: number) {
    const url = `http://127.0.0.1:${httpPort}`;
    super('clickhouse', dataDir, { CLICKHOUSE_URL: url, CLICKHOUSE_TCP_PORT: String(tcpPort) });
    this.url = url;
  }

  static async start(): Promise<PrivateClickHouse> {
    const dir = await PrivateServer.dataDir('clickhouse');
    return new PrivateClickHouse(dir, await freePort(), await freePort()).started();
  }
}
