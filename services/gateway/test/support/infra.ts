// The gateway's integration tests' own pieces: the gateway's configuration for a test, the tokens
// they post with, a topic read back as the JSON the gateway wrote, and a redis-server of one test
// alone (Redis is the gateway's) for the outage test, started and stopped here by pid. Clients,
// names, topics, waiting and a private Kafka come from the one test-support module,
// test/support/harness.ts.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { KafkaClient } from '@tradewatch/shared/kafka-port';
import { loadGatewayConfig, type GatewayConfig } from '../../src/config.ts';
import {
  BROKERS,
  REDIS_URL,
  freePort,
  tailTopic,
  uniqueName,
  waitUntil,
  type TopicRecord,
} from '../../../../test/support/harness.ts';

const run = promisify(execFile);

export interface TopicReader {
  /** What has been read so far, in read order per partition (each with its partition). */
  messages: TopicRecord[];
  /** Values parsed as JSON, in read order per partition. */
  values(): Record<string, unknown>[];
  waitForCount(n: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Reads every partition of a topic from the beginning (read_committed), without a group. */
export const readTopic = async (kafka: KafkaClient, topic: string): Promise<TopicReader> => {
  const tail = await tailTopic(kafka, topic);
  return {
    messages: tail.records,
    values: () => tail.records.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>),
    waitForCount: (n, ms = 30_000) => tail.until(`${n} records on ${topic}`, (r) => r.length >= n, ms, 10),
    stop: () => tail.close(),
  };
};

export const gatewayConfig = (env: Record<string, string>): Readonly<GatewayConfig> =>
  loadGatewayConfig({
    KAFKA_BROKERS: BROKERS.join(','),
    REDIS_URL,
    GATEWAY_TOKENS: 'gs-it:it-token-1,gs-it2:it-token-2',
    GATEWAY_REDIS_KEY_PREFIX: `${uniqueName('gateway-keys')}:`,
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
