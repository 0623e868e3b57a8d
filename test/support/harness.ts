// Test harness for tests that cross services: unique names, child-process services, waiting on
// conditions with deadlines, and reading topics and ClickHouse the way a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@tradewatch/shared/logger';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { ConsumedRecord, KafkaAdmin, KafkaClient, TopicSpec } from '@tradewatch/shared/kafka-port';

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
export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LOG_DIR = join(process.env.TRADEWATCH_DATA_DIR ?? join(ROOT, '.data'), 'logs', 'tests');

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

export const testKafka = (): KafkaClient =>
  createKafkaClient({
    brokers: BROKERS,
    clientId: uniqueName('test'),
    logger: createLogger('test', 'error'),
  });

export const withAdmin = async <T>(kafka: KafkaClient, fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> => {
  const admin = kafka.admin();
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
};

export const createTestTopics = (kafka: KafkaClient, topics: TopicSpec[]) =>
  withAdmin(kafka, (admin) => admin.ensureTopics(topics));

export const deleteTestTopics = (kafka: KafkaClient, topics: string[]) =>
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

/** Reads a whole topic from the beginning (read_committed) until `done` holds. */
export const readTopicUntil = async (
  kafka: KafkaClient,
  topic: string,
  done: (records: TopicRecord[]) => boolean,
  opts: { timeoutMs?: number } = {},
): Promise<TopicRecord[]> => {
  const reader = kafka.partitionReader({ maxWaitMs: 100 });
  const records: TopicRecord[] = [];
  try {
    reader.start((batch) => {
      for (const r of batch.records) records.push({ ...r, partition: batch.partition });
    });
    const partitions = await withAdmin(kafka, (admin) => admin.partitionCount(topic));
    for (let partition = 0; partition < partitions; partition++) reader.assign({ topic, partition }, 0);
    await waitUntil(
      `${topic} to reach the expected content (${records.length} read)`,
      () => done(records),
      opts.timeoutMs ?? 30000,
    );
    return records;
  } finally {
    await reader.close();
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

export const produce = async (kafka: KafkaClient, topic: string, messages: TestRecord[]): Promise<void> => {
  const producer = kafka.producer();
  try {
    for (let i = 0; i < messages.length; i += 1000) {
      await producer.send(messages.slice(i, i + 1000).map((m) => ({ topic, ...m })));
    }
  } finally {
    await producer.close();
  }
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
