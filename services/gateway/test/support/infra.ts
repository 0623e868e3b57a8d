// Real Kafka and Redis for the gateway's integration tests: a random topic per test on the
// shared broker, a consumer that reads a topic back, and private Redis and Kafka instances (on
// free loopback ports, started and stopped by this process, by pid) for the outage tests, so
// that stopping them disturbs nobody else's tests.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { ConsumedRecord, KafkaClient } from '@tradewatch/shared/kafka-port';
import { loadGatewayConfig, type GatewayConfig } from '../../src/config.ts';
import { freePort, waitUntil } from '../../../../test/support/harness.ts';

export { freePort };

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPO = new URL('../../../../', import.meta.url).pathname;
const run = promisify(execFile);

export const quietLogger = () => pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
export const uniqueName = (what: string) => `test-gateway-${what}-${randomUUID().slice(0, 8)}`;

const kafkaAt = (brokers: string, clientId: string): KafkaClient =>
  createKafkaClient({ brokers: [brokers], clientId, logger: quietLogger() });

export const createTopic = async (brokers: string, topic: string, partitions = 3): Promise<void> => {
  const admin = kafkaAt(brokers, 'gateway-test-admin').admin();
  try {
    await admin.ensureTopics([{ topic, partitions }]);
  } finally {
    await admin.close();
  }
};

export const deleteTopic = async (brokers: string, topic: string): Promise<void> => {
  const admin = kafkaAt(brokers, 'gateway-test-admin').admin();
  try {
    await admin.deleteTopics([topic]);
  } catch {
    // Best effort: topics of tests are disposable.
  } finally {
    await admin.close().catch(() => undefined);
  }
};

export interface TopicReader {
  messages: ConsumedRecord[];
  /** The partition of each of `messages`. */
  partitions: number[];
  /** Values parsed as JSON, in read order per partition. */
  values(): Record<string, unknown>[];
  waitForCount(n: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Reads every partition of a topic from the beginning (read_committed), without a group. */
export const readTopic = async (brokers: string, topic: string): Promise<TopicReader> => {
  const kafka = kafkaAt(brokers, 'gateway-test-reader');
  const admin = kafka.admin();
  const partitionCount = await admin.partitionCount(topic).finally(() => admin.close());
  const reader = kafka.partitionReader({ maxWaitMs: 100 });
  const messages: ConsumedRecord[] = [];
  const partitions: number[] = [];
  reader.start((batch) => {
    for (const r of batch.records) {
      messages.push(r);
      partitions.push(batch.partition);
    }
  });
  for (let partition = 0; partition < partitionCount; partition++) reader.assign({ topic, partition }, 0);
  return {
    messages,
    partitions,
    values: () => messages.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>),
    waitForCount: async (n, ms = 30_000) => {
      await waitUntil(`${n} records on ${topic}`, () => messages.length >= n, ms, 10);
    },
    stop: () => reader.close(),
  };
};

export const gatewayConfig = (env: Record<string, string>): Readonly<GatewayConfig> =>
  loadGatewayConfig({
    KAFKA_BROKERS,
    REDIS_URL,
    GATEWAY_TOKENS: 'gs-it:it-token-1,gs-it2:it-token-2',
    GATEWAY_REDIS_KEY_PREFIX: `${uniqueName('keys')}:`,
    LOG_LEVEL: 'silent',
    ...env,
  });

export const IT_HEADERS = { authorization: 'Bearer it-token-1', 'content-type': 'application/json' };
/** Tokens with a sandbox token of gs-it (a gateway with one creates its sandbox topic). */
export const IT_TOKENS_WITH_SANDBOX = 'gs-it:it-token-1,gs-it2:it-token-2,gs-it:sandbox:it-sandbox-token';
export const IT_SANDBOX_HEADERS = {
  authorization: 'Bearer it-sandbox-token',
  'content-type': 'application/json',
};

/** A redis-server of this test alone, without persistence, on a free port. */
export class PrivateRedis {
  readonly port: number;
  private child: ChildProcess | undefined;
  private constructor(port: number) {
    this.port = port;
  }
  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.up();
    return r;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async up(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    this.child = child;
    await waitUntil(
      'the private redis-server',
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        return run('redis-cli', ['-p', String(this.port), 'ping']).then(
          (r) => r.stdout.trim() === 'PONG',
          () => false,
        );
      },
      10_000,
      10,
    );
  }
  /** Stops this test's redis-server, by its pid. */
  async down(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
    this.child = undefined;
  }
}

/**
 * A single-node Kafka of this test alone, started by infra/infra.sh with its own data directory
 * and ports; `down` and `up` stop and restart it (by the pid infra.sh recorded), keeping its data.
 */
export class PrivateKafka {
  readonly brokers: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly dataDir: string;
  private constructor(dataDir: string, port: number, controllerPort: number) {
    this.dataDir = dataDir;
    this.brokers = `127.0.0.1:${port}`;
    this.env = {
      ...process.env,
      TRADEWATCH_DATA_DIR: dataDir,
      KAFKA_BROKERS: this.brokers,
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_HEAP_OPTS: '-Xmx512m -Xms128m',
    };
  }
  static async start(): Promise<PrivateKafka> {
    const dir = await mkdtemp(join(tmpdir(), 'tradewatch-gateway-kafka-'));
    const k = new PrivateKafka(dir, await freePort(), await freePort());
    await k.up();
    return k;
  }
  private infra(cmd: 'up' | 'down'): Promise<unknown> {
    return run(join(REPO, 'infra/infra.sh'), [cmd, 'kafka'], { env: this.env, timeout: 120_000 });
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
}
