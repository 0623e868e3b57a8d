// The benchmarks' settings: every environment variable a bench reads, one loader per bench,
// validated with the services' reader (shared/src/config.ts) and every problem listed at once.
// What a bench passes on to the services it starts (PROCESSOR_*, ...) they read themselves.
import { join } from 'node:path';
import { EnvReader, LOG_LEVELS, type Env } from '@tradewatch/shared/config';

const DEFAULT_BROKERS = '127.0.0.1:9092';
const DEFAULT_CLICKHOUSE_URL = 'http://127.0.0.1:8123';

/** A count or size that must be at least 1. */
const positive = (r: EnvReader, name: string, fallback: number): number => r.int(name, fallback, { min: 1 });

/** A duration or ratio that must be more than 0. */
const positiveNumber = (r: EnvReader, name: string, fallback: number): number => {
  const n = r.number(name, fallback, { min: 0 });
  if (n > 0) return n;
  r.problem(`${name}=0 must be more than 0`);
  return fallback;
};

/** BENCH_PHASES: a comma list of the parts to run. */
const phases = (r: EnvReader, fallback: string): Set<string> =>
  new Set(
    r
      .string('BENCH_PHASES', fallback)
      .split(',')
      .map((s) => s.trim()),
  );

export const loadProcessorBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  const count = (name: string, fallback: number) => r.int(name, fallback, { min: 0 });
  return r.finish('processor bench', {
    users: count('BENCH_USERS', 1_000_000),
    events: count('BENCH_EVENTS', 2_000_000),
    partitions: count('BENCH_PARTITIONS', 6),
    storeUsers: count('BENCH_STORE_USERS', 1_000_000),
    latencyRate: count('BENCH_LATENCY_RATE', 5000),
    latencySeconds: count('BENCH_LATENCY_SECONDS', 30),
    failoverRate: count('BENCH_FAILOVER_RATE', 5000),
    seed: count('BENCH_SEED', 7),
    phases: phases(r, 'compare,peer,restart,store,baseline,process,latency,failover'),
    /** The PROCESSOR_* settings the processors under test are started with, for the results. */
    processorEnv: Object.fromEntries(
      Object.entries(env).filter(
        (e): e is [string, string] => e[0].startsWith('PROCESSOR_') && e[1] !== undefined,
      ),
    ),
  });
};

/** processor-compare.ts, run by the processor bench; `root` is the repository. */
export const loadCompareBenchConfig = (env: Env, root: string) => {
  const r = new EnvReader(env);
  return r.finish('processor compare bench', {
    events: positive(r, 'BENCH_COMPARE_EVENTS', 1_200_000),
    users: positive(r, 'BENCH_COMPARE_USERS', 40_000),
    partitions: positive(r, 'BENCH_PARTITIONS', 6),
    restartRate: positive(r, 'BENCH_RESTART_RATE', 5000),
    /** Where the Kafka Streams peer is built. */
    peerDir: r.string('BENCH_PEER_DIR', join(root, '.data', 'peer-kstreams')),
    /** Its Maven project (a pom.xml and peer.FraudApp), built into peerDir when that is empty. */
    peerSource: r.optionalString('BENCH_PEER_SOURCE'),
  });
};

export const loadDashboardBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('dashboard bench', {
    clients: positive(r, 'BENCH_CLIENTS', 50),
    clientProcesses: positive(r, 'BENCH_CLIENT_PROCESSES', 2),
    alerts: positive(r, 'BENCH_ALERTS', 100_000),
    pacedRate: positive(r, 'BENCH_PACED_RATE', 500),
    pacedSeconds: positive(r, 'BENCH_PACED_SECONDS', 20),
    partitions: positive(r, 'BENCH_PARTITIONS', 6),
    pageAlerts: positive(r, 'BENCH_PAGE_ALERTS', 10_000),
    pageLoads: positive(r, 'BENCH_PAGE_LOADS', 5),
    apiRuns: positive(r, 'BENCH_API_RUNS', 5),
    scrollSeconds: positive(r, 'BENCH_SCROLL_SECONDS', 5),
    liveSeconds: positive(r, 'BENCH_LIVE_SECONDS', 8),
    /** A second paced run, faster: what 50 clients are served without being dropped. */
    sustainedRate: positive(r, 'BENCH_SUSTAINED_RATE', 5000),
    sustainedSeconds: positive(r, 'BENCH_SUSTAINED_SECONDS', 10),
    /** A client that receives nothing new for this long is reported as incomplete. */
    stallMs: positive(r, 'BENCH_STALL_MS', 30_000),
    phases: phases(r, 'feed,page'),
    /** The SSE clients print their progress every second. */
    debug: r.bool('BENCH_DEBUG', false),
    /** NODE_OPTIONS of the desk under test. */
    deskNodeOptions: r.optionalString('BENCH_DESK_NODE_OPTIONS'),
  });
};

export const loadGatewayBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('gateway bench', {
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', DEFAULT_BROKERS),
    secondsPerScenario: positive(r, 'BENCH_SECONDS', 10),
    /** The gateway's LOG_LEVEL. */
    gatewayLogLevel: r.oneOf('BENCH_LOG_LEVEL', LOG_LEVELS, 'warn'),
    /** A directory: the gateway writes a V8 CPU profile of the whole run there. */
    gatewayCpuProfileDir: r.optionalString('BENCH_GATEWAY_CPU_PROF'),
    kcatEvents: positive(r, 'BENCH_KCAT_EVENTS', 2_000_000),
  });
};

export const loadTracingBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('tracing bench', {
    events: positive(r, 'BENCH_TRACING_EVENTS', 600_000),
    users: positive(r, 'BENCH_TRACING_USERS', 20_000),
    seconds: positive(r, 'BENCH_SECONDS', 8),
  });
};

export const loadSinkBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('sink bench', {
    events: positive(r, 'BENCH_EVENTS', 1_000_000),
    partitions: positive(r, 'BENCH_PARTITIONS', 6),
    /** The native port of the ClickHouse the bulk-insert baseline writes to. */
    clickhouseTcpPort: r.int('CLICKHOUSE_TCP_PORT', 9000, { min: 1, max: 65535 }),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'warn'),
  });
};

export const loadBacktestBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('backtest bench', {
    events: positive(r, 'BENCH_EVENTS', 1_000_000),
    users: positive(r, 'BENCH_USERS', 20_000),
    clickhouseUrl: r.url('CLICKHOUSE_URL', DEFAULT_CLICKHOUSE_URL, ['http:', 'https:']),
    /** Leave the bench's database in place. */
    keepData: r.bool('KEEP_BENCH_DATA', false),
  });
};

export const loadSoakBenchConfig = (env: Env) => {
  const r = new EnvReader(env);
  return r.finish('soak bench', {
    minutes: positiveNumber(r, 'SOAK_MINUTES', 30),
    load: positiveNumber(r, 'SOAK_LOAD', 0.5),
    capacitySeconds: positiveNumber(r, 'SOAK_CAPACITY_SECONDS', 45),
    brokerEveryMin: positiveNumber(r, 'SOAK_BROKER_EVERY_MIN', 5),
    brokerDownSeconds: positiveNumber(r, 'SOAK_BROKER_DOWN_SECONDS', 30),
    processorEveryMin: positiveNumber(r, 'SOAK_PROCESSOR_EVERY_MIN', 7),
    sampleSeconds: positiveNumber(r, 'SOAK_SAMPLE_SECONDS', 10),
    gameServers: positiveNumber(r, 'SOAK_GAME_SERVERS', 24),
    batch: positiveNumber(r, 'SOAK_BATCH', 200),
  });
};
