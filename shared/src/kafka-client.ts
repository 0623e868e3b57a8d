// The Kafka adapter: the port of kafka-port.ts on @platformatic/kafka, and the only module that
// imports the client library. What it does beyond calling the library, and why:
//
// - Fetching is ours (Consumer.fetch, the library's raw Fetch): one loop per consumer fetches
//   every assigned, unpaused partition from its own position, so that a partition can be paused,
//   resumed and moved (seek) on its own, which the library's streams cannot do; read_committed
//   results are filtered again with the Java client's rule (kafka-record-filter.ts) because the
//   library's filter leaks aborted records in two cases.
// - Group membership is the library's (JoinGroup/SyncGroup/Heartbeat, static membership with
//   group.instance.id, cooperative-sticky), without its streams; assignments are diffed here into
//   assigned / revoked / lost.
// - Transactions: InitProducerId is sent with producerId -1 / epoch -1 (the library sends 0/0,
//   which the broker reads as an epoch bump of producer 0 and answers PRODUCER_FENCED); offsets
//   are added one TxnOffsetCommit at a time (concurrent calls share one request in 2.12.1) with
//   the consumer's generation and member id (KIP-447); a retry back-off keeps
//   CONCURRENT_TRANSACTIONS after a commit from costing the library's default second.
// - Keys are placed by Java's partitioner (compatibilityPartitioner), not the library's default.
// - Every error leaves as a TradewatchError: KAFKA_FENCED (another producer owns the
//   transactional id, or the coordinator aborted a transaction that outlived its timeout),
//   KAFKA_GROUP_FENCED (this member's generation is gone), retriable KAFKA_ERROR, or fatal.
import {
  Admin,
  ConfigResourceTypes,
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  Producer as LibraryProducer,
  compatibilityPartitioner,
  kGetBootstrapConnection,
} from '@platformatic/kafka';
import { metrics, type Counter } from '@opentelemetry/api';
import { TradewatchError } from './errors.ts';
import type { Logger } from './logger.ts';
import { committedRecords, type AbortedTransaction, type FetchedBatch } from './kafka-record-filter.ts';
import {
  tpKey,
  type AdvertisedEndpoint,
  type Compression,
  type GroupConsumer,
  type GroupConsumerHandlers,
  type GroupConsumerOptions,
  type GroupMember,
  type GroupMembers,
  type GroupMetadata,
  type KafkaAdmin,
  type KafkaClient,
  type OutgoingRecord,
  type PartitionBaseOffset,
  type PartitionReader,
  type PartitionReaderOptions,
  type Producer,
  type ProducerOptions,
  type RecordBatch,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicSpec,
  type TransactionalProducer,
  type TransactionalProducerOptions,
  type Watermarks,
} from './kafka-port.ts';
import {
  BrokerWatch,
  bootstrapOrder,
  brokerKey,
  parseBroker,
  type BrokerAddress,
} from './kafka-broker-watch.ts';

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** Connection timeout, ms. */
  connectTimeoutMs?: number;
  /**
   * What a broker is asked to wait for one request (10 s by default); the client waits a second
   * longer for the answer, then drops the connection and retries with fresh metadata.
   */
  requestTimeoutMs?: number;
  /**
   * On a cluster of several brokers, ask each broker once a second whether it answers, and stop
   * waiting on one that does not (kafka-broker-watch.ts). On by default.
   */
  watchBrokers?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Errors

interface PkErrorLike {
  name?: string;
  message?: string;
  apiId?: string;
  canRetry?: boolean;
  errors?: unknown[];
  cause?: unknown;
  response?: unknown;
}

const walkErrors = (err: unknown, visit: (e: PkErrorLike) => void, depth = 0): void => {
  if (err === null || typeof err !== 'object' || depth > 8) return;
  const e = err as PkErrorLike;
  visit(e);
  for (const sub of e.errors ?? []) walkErrors(sub, visit, depth + 1);
  if (e.cause !== undefined) walkErrors(e.cause, visit, depth + 1);
};

const apiIdsOf = (err: unknown): Set<string> => {
  const ids = new Set<string>();
  walkErrors(err, (e) => {
    if (typeof e.apiId === 'string') ids.add(e.apiId);
  });
  return ids;
};

const PRODUCER_FENCED = [
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_PRODUCER_ID_MAPPING',
];
const GROUP_FENCED = [
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
  'REBALANCE_IN_PROGRESS',
];
/** The broker lost track of this producer's sequence (brokers down, a leader elected uncleanly). */
const PRODUCER_STATE = ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_TXN_STATE'];
const RETRIABLE_NAMES = new Set(['NetworkError', 'TimeoutError']);

/** Maps any client error to a TradewatchError; the error chain's own `canRetry` decides retries. */
export const classifyKafkaError = (err: unknown, what?: string): TradewatchError => {
  if (err instanceof TradewatchError) return err;
  const ids = apiIdsOf(err);
  const message = `${what === undefined ? '' : `${what}: `}${(err as Error | undefined)?.message ?? String(err)}${
    ids.size > 0 ? ` (${[...ids].join(', ')})` : ''
  }`;
  if (PRODUCER_FENCED.some((id) => ids.has(id))) {
    return new TradewatchError('KAFKA_FENCED', `producer fenced: ${message}`, { cause: err });
  }
  if (PRODUCER_STATE.some((id) => ids.has(id))) {
    // The producer must start again (a new epoch); the operation may then be tried again.
    return new TradewatchError('KAFKA_PRODUCER_STATE', `producer state lost: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
  if (GROUP_FENCED.some((id) => ids.has(id))) {
    return new TradewatchError('KAFKA_GROUP_FENCED', `consumer group generation fenced: ${message}`, {
      cause: err,
    });
  }
  let retriable = true;
  let network = false;
  walkErrors(err, (e) => {
    if (e.canRetry === false) retriable = false;
    if (e.name !== undefined && RETRIABLE_NAMES.has(e.name)) network = true;
  });
  // Passing states: a topic just created, a transaction the broker asks to abort and retry.
  if (ids.has('UNKNOWN_TOPIC_OR_PARTITION') || ids.has('TRANSACTION_ABORTABLE')) retriable = true;
  return new TradewatchError('KAFKA_ERROR', message, { retriable: retriable || network, cause: err });
};

const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw classifyKafkaError(err, what);
  }
};

/**
 * Runs an operation again while it fails with a retriable error, up to a deadline: right after a
 * topic is created or a broker starts, requests briefly answer UNKNOWN_TOPIC_OR_PARTITION or
 * "coordinator loading".
 */
const retrying = async <T>(what: string, fn: () => Promise<T>, deadlineMs = 30000): Promise<T> => {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = classifyKafkaError(err, what);
      if (!e.retriable || Date.now() > deadline) throw e;
      await sleep(Math.min(100 * 2 ** attempt, 2000));
    }
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The library has two timeouts: `timeout`, what a broker is asked to wait (for the in-sync
 * replicas of a produce, say), and `requestTimeout`, how long the client waits for any answer
 * before it drops the connection and retries with fresh metadata. Left at its 30 s default, a
 * request to a broker that froze (SIGSTOP, a stalled disk) hangs 30 s although leadership moved
 * after the broker's session timeout; so the client waits as long as the broker is asked to,
 * plus a second for the answer to arrive.
 */
const requestTimeouts = (ms: number) => ({ timeout: ms, requestTimeout: ms + 1000 });

/**
 * The error each client's last retry was for. The library hands it to the retry delay, not to
 * the retry event that follows at once; the delays below note it for watched() to log.
 */
const lastRetryError = new WeakMap<object, unknown>();

/** What a retried error says, in a line: the distinct messages of the errors it aggregates. */
export const retryCause = (error: unknown): string => {
  const leaves: string[] = [];
  const walk = (e: unknown, depth: number) => {
    if (depth > 4 || e === null || typeof e !== 'object') return;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      for (const inner of errors) walk(inner, depth + 1);
      return;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '' && !leaves.includes(message)) leaves.push(message);
  };
  walk(error, 0);
  const line = leaves.join('; ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
};

const noting =
  (delay: (attempt: number) => number) =>
  (client: unknown, _op: string, attempt: number, _retries?: number, error?: unknown): number => {
    if (client !== null && typeof client === 'object') lastRetryError.set(client, error);
    return delay(attempt);
  };

/** 100 ms doubling to 5 s: what a producer that outlasts a broker restart waits between retries. */
const slowRetryDelay = noting((attempt) => Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000));

/** 10, 20, 40 … 640 ms, then 1 s: about 20 s over 25 retries. */
const transactionRetryDelay = noting((attempt) => Math.min(10 * 2 ** Math.max(0, attempt - 1), 1000));

/** Backs off 10, 20, 40 … 500 ms: CONCURRENT_TRANSACTIONS clears within milliseconds. */
const retryDelay = noting((attempt) => Math.min(10 * 2 ** Math.max(0, attempt - 1), 500));

// ---------------------------------------------------------------------------------------------
// Serialisation

const toBuffer = (v: string | Buffer | null | undefined): Buffer | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;

const serializers = {
  key: (v?: Buffer) => v,
  value: (v?: Buffer) => v,
  headerKey: (v?: string) => (v === undefined ? undefined : Buffer.from(v, 'utf8')),
  headerValue: (v?: Buffer) => v,
};

interface PkMessage {
  topic: string;
  partition?: number;
  key?: Buffer;
  value?: Buffer;
  headers?: Map<string, Buffer>;
}

const toPkMessage = (r: OutgoingRecord): PkMessage => {
  const m: PkMessage = { topic: r.topic };
  if (r.partition !== undefined) m.partition = r.partition;
  const key = toBuffer(r.key);
  if (key !== undefined) m.key = key;
  const value = toBuffer(r.value);
  if (value !== undefined) m.value = value;
  if (r.headers !== undefined) {
    m.headers = new Map(Object.entries(r.headers).map(([k, v]) => [k, toBuffer(v)!]));
  }
  return m;
};

// Created on the first retry, so that it belongs to the meter provider the service registered
// at start-up (the API hands out a no-op meter before that).
let retryCount: Counter | undefined;
const retryCounter = (): Counter =>
  (retryCount ??= metrics.getMeter('tradewatch-kafka').createCounter('tradewatch.kafka.client.retries', {
    description: 'Kafka requests the client retried, by operation',
  }));

// ---------------------------------------------------------------------------------------------
// Brokers asked in turn

// The library asks for metadata (and API versions) on the first broker of its list (the
// bootstrap brokers, then the discovered ones) that it can connect to, and a retry inside a
// send asks again with attempt 0: the same broker. A broker that froze (SIGSTOP, a stalled disk)
// still accepts connections, so every refresh would wait out the request timeout on it, until it
// came back, although its partitions had new leaders after its session timeout. These subclasses
// start each question one broker further along the list: one that timed out on a frozen broker
// is asked of the next.
//
// With a BrokerWatch (kafka-broker-watch.ts), brokers that have stopped answering are asked last.
type BootstrapCallback = Parameters<Admin[typeof kGetBootstrapConnection]>[0];

/** What the subclasses below share: a turn, and the watch that says which brokers are silent. */
interface Turning {
  turn: number;
  brokerWatch: BrokerWatch | undefined;
  readonly connections: Admin['connections'];
  readonly currentMetadata: Admin['currentMetadata'];
}

const turnBootstrap = (
  self: Turning,
  bootstrap: readonly BrokerAddress[],
  callback: BootstrapCallback,
  attempt: number,
): void => {
  const discovered = [...(self.currentMetadata?.brokers.values() ?? [])].map((b) => ({
    host: b.host,
    port: b.port,
  }));
  const watch = self.brokerWatch;
  const order = bootstrapOrder(
    [...bootstrap, ...discovered],
    attempt + self.turn++,
    (b) => watch?.isSilent(b) ?? false,
  );
  self.connections.getFirstAvailable(order, callback);
};

class TurningAdmin extends Admin implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

class PkProducer extends LibraryProducer<Buffer, Buffer, string, Buffer> implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

class TurningConsumer extends Consumer implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

type LibraryClient = TurningAdmin | PkProducer | TurningConsumer;

// ---------------------------------------------------------------------------------------------
// The client

export const createKafkaClient = (opts: KafkaClientOptions): KafkaClient => new PkKafkaClient(opts);

class PkKafkaClient implements KafkaClient {
  readonly o: KafkaClientOptions;
  /** Group consumers by group id: a transaction's offsets go to the group's coordinator. */
  readonly groups = new Map<string, Consumer>();
  private clients = 0;
  private readonly bootstrap: readonly BrokerAddress[];
  /** The library clients made here and not yet closed: what a silent broker's connections are closed in. */
  private readonly live = new Set<LibraryClient>();
  /** On a cluster of several brokers: which of them answer (kafka-broker-watch.ts). */
  private readonly watch: BrokerWatch | undefined;

  constructor(o: KafkaClientOptions) {
    this.o = o;
    this.bootstrap = o.brokers.map(parseBroker);
    if (o.brokers.length > 1 && o.watchBrokers !== false) {
      const log = o.logger.child({ module: 'kafka' });
      this.watch = new BrokerWatch({
        brokers: o.brokers,
        clientId: `${o.clientId}-watch`,
        discover: () => this.discovered(),
        onChange: (broker, silent, unansweredMs) => {
          if (silent) log.warn({ broker: brokerKey(broker), unansweredMs }, 'kafka broker not answering');
          else log.info({ broker: brokerKey(broker), unansweredMs }, 'kafka broker answering again');
        },
        onSilentTick: (silent) => this.leaveSilent(silent),
      });
    }
  }

  private *discovered(): Iterable<BrokerAddress> {
    for (const c of this.live) for (const b of c.currentMetadata?.brokers.values() ?? []) yield b;
  }

  /**
   * Closes every connection the clients hold to a silent broker, failing the requests waiting on
   * it now rather than at their timeout, and drops their metadata, so that the retry asks for
   * the leaders and coordinators again (of a broker that answers).
   */
  private leaveSilent(silent: readonly BrokerAddress[]): void {
    const keys = new Set(silent.map(brokerKey));
    for (const c of this.live) {
      let held = false;
      for (const [key, connection] of c.connections) {
        if (!keys.has(key)) continue;
        held = true;
        void connection.close().catch(() => undefined);
      }
      if (held) c.clearMetadata();
    }
  }

  base(kind: string) {
    return {
      clientId: `${this.o.clientId}-${kind}-${++this.clients}`,
      bootstrapBrokers: [...this.o.brokers],
      connectTimeout: this.o.connectTimeoutMs ?? 3000,
      ...requestTimeouts(this.o.requestTimeoutMs ?? 10000),
      retries: 5,
      retryDelay,
    };
  }

  /**
   * Logs the retries the library makes (operation, attempt, delay, what failed): a broker failure shows in
   * the log as the retries it caused, each operation's bounded by its retry count. The first two
   * of an operation are debug: a transaction's first AddPartitionsToTxn after a commit is
   * routinely answered CONCURRENT_TRANSACTIONS once or twice.
   */
  watched<T extends LibraryClient>(c: T): T {
    c.bootstrap = this.bootstrap;
    c.brokerWatch = this.watch;
    this.live.add(c);
    c.once('client:close', () => {
      this.live.delete(c);
      if (this.live.size === 0) this.watch?.stop();
    });
    this.watch?.start();
    const log = this.o.logger.child({ module: 'kafka', client: c.clientId });
    c.on(
      'client:performWithRetry:retry',
      (operation: string, attempt: number, retries: number, delayMs: number) => {
        retryCounter().add(1, { 'tradewatch.kafka.operation': operation });
        const n = attempt + 1;
        log[n <= 2 ? 'debug' : 'warn'](
          { operation, attempt: n, retries, delayMs, cause: retryCause(lastRetryError.get(c)) },
          'kafka request failed, retrying',
        );
      },
    );
    return c;
  }

  admin(): KafkaAdmin {
    return new PkAdmin(this.watched(new TurningAdmin(this.base('admin'))));
  }

  producer(opts: ProducerOptions = {}): Producer {
    const p = this.watched(
      new PkProducer({
        ...this.base('producer'),
        ...(opts.requestTimeoutMs === undefined ? {} : requestTimeouts(opts.requestTimeoutMs)),
        ...(opts.retries === undefined ? {} : { retries: opts.retries, retryDelay: slowRetryDelay }),
        idempotent: true,
        acks: -1,
        compression: opts.compression ?? 'none',
        partitioner: compatibilityPartitioner,
        autocreateTopics: false,
        serializers,
      }),
    );
    return {
      // On a cluster of several brokers, one request per partition (records without one go
      // together): the library routes a request by its first record's partition and, retrying,
      // keeps sending it there, so a request for partitions whose leaders split up after a broker
      // died would retry against the wrong leader until its retries ran out. Its retries keep the
      // sequence numbers. With one broker there is one leader: one request.
      send: (records) =>
        wrap('producing', async () => {
          if (records.length === 0) return [];
          const topics = [...new Set(records.map((r) => r.topic))];
          const brokers = (await p.metadata({ topics })).brokers.size;
          if (brokers <= 1)
            return baseOffsets((await p.send({ messages: records.map(toPkMessage) })).offsets ?? []);
          const groups = new Map<string, PkMessage[]>();
          for (const r of records) {
            const key = r.partition === undefined ? '' : `${r.topic}\u0000${r.partition}`;
            let g = groups.get(key);
            if (g === undefined) groups.set(key, (g = []));
            g.push(toPkMessage(r));
          }
          const results = await Promise.all([...groups.values()].map((messages) => p.send({ messages })));
          return results.flatMap((result) => baseOffsets(result.offsets ?? []));
        }),
      close: () => wrap('closing a producer', () => p.close()),
    };
  }

  transactionalProducer(opts: TransactionalProducerOptions): TransactionalProducer {
    return new PkTransactionalProducer(this, opts);
  }

  groupConsumer(opts: GroupConsumerOptions): GroupConsumer {
    return new PkGroupConsumer(this, opts);
  }

  partitionReader(opts: PartitionReaderOptions = {}): PartitionReader {
    return new PkPartitionReader(this, opts);
  }
}

/**
 * The partition the producers above (the library's compatibilityPartitioner over the key's
 * UTF-8 bytes) give a record keyed `key` in a topic of `partitions` partitions. partitionForKey
 * (partitioner.ts) computes the same without the library; its test holds the two together.
 */
export const producerPartitionForKey = (key: string, partitions: number): number =>
  compatibilityPartitioner(undefined as never, Buffer.from(key, 'utf8')) % partitions;

const baseOffsets = (offsets: readonly { topic: string; partition: number; offset: bigint }[]) =>
  offsets.map((o): PartitionBaseOffset => ({
    topic: o.topic,
    partition: o.partition,
    baseOffset: Number(o.offset),
  }));

// ---------------------------------------------------------------------------------------------
// Transactions

type PkTransaction = Awaited<ReturnType<PkProducer['beginTransaction']>>;

class PkTransactionalProducer implements TransactionalProducer {
  readonly transactionalId: string;
  private readonly producer: PkProducer;
  private readonly client: PkKafkaClient;
  private txn: PkTransaction | undefined;
  /** Whether the open transaction has anything in it at the broker. */
  private touched = false;
  private groupsAdded = new Set<string>();

  constructor(client: PkKafkaClient, opts: TransactionalProducerOptions) {
    this.client = client;
    this.transactionalId = opts.transactionalId;
    this.producer = client.watched(
      new PkProducer({
        ...client.base('txn'),
        // The library sends `timeout` as the transaction timeout of InitProducerId.
        timeout: opts.transactionTimeoutMs,
        // Quick retries first (CONCURRENT_TRANSACTIONS clears in milliseconds), then every second
        // for about 20 s in all: a coordinator on a broker that died moves only after the broker's
        // session timeout (9 s by default) and an election.
        retries: 25,
        retryDelay: transactionRetryDelay,
        idempotent: true,
        transactionalId: opts.transactionalId,
        compression: opts.compression ?? 'none',
        partitioner: compatibilityPartitioner,
        autocreateTopics: false,
        serializers,
      }),
    );
  }

  init(): Promise<void> {
    return wrap(`initialising transactional id ${this.transactionalId}`, async () => {
      const t = await this.producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      await t.cancel();
    });
  }

  begin(): Promise<void> {
    return wrap('beginning a transaction', async () => {
      this.txn = await this.producer.beginTransaction();
      this.touched = false;
      this.groupsAdded = new Set();
    });
  }

  private open(): PkTransaction {
    if (this.txn === undefined) throw new TradewatchError('KAFKA_NO_TRANSACTION', 'no open transaction');
    return this.txn;
  }

  send(records: readonly OutgoingRecord[]): Promise<void> {
    return wrap('producing in a transaction', async () => {
      if (records.length === 0) return;
      const txn = this.open();
      this.touched = true;
      await txn.send({ messages: records.map(toPkMessage) });
    });
  }

  sendOffsets(offsets: readonly TopicPartitionOffset[], group: GroupMetadata): Promise<void> {
    return wrap('adding offsets to a transaction', async () => {
      if (offsets.length === 0) return;
      const txn = this.open();
      const consumer = this.client.groups.get(group.groupId);
      if (consumer === undefined) {
        throw new TradewatchError(
          'KAFKA_GROUP_UNKNOWN',
          `no member of group ${group.groupId} in this process`,
        );
      }
      // The coordinator is being found again (its broker died): wait a little, then let the
      // transaction fail as a passing failure.
      for (let waited = 0; consumer.coordinatorId === null && waited < 5000; waited += 100) await sleep(100);
      if (consumer.coordinatorId === null) {
        throw new TradewatchError(
          'KAFKA_COORDINATOR_UNKNOWN',
          `group ${group.groupId} has no coordinator now`,
          {
            retriable: true,
          },
        );
      }
      this.touched = true;
      if (!this.groupsAdded.has(group.groupId)) {
        await txn.addConsumer(consumer);
        this.groupsAdded.add(group.groupId);
      }
      // The library reads the coordinator from this object at each retry of a TxnOffsetCommit: a
      // getter lets a retry go to the coordinator the consumer found after its old one died.
      let lastCoordinator = consumer.coordinatorId;
      const meta = {
        groupId: group.groupId,
        generationId: group.generationId,
        memberId: group.memberId,
        get coordinatorId() {
          lastCoordinator = consumer.coordinatorId ?? lastCoordinator;
          return lastCoordinator;
        },
      };
      // One at a time: concurrent addOffset calls share one in-flight request in 2.12.1.
      for (const o of offsets) {
        await txn.addOffset({
          topic: o.topic,
          partition: o.partition,
          offset: BigInt(o.offset - 1), // the library commits offset + 1
          key: undefined,
          value: undefined,
          headers: new Map(),
          timestamp: 0n,
          metadata: { consumer: meta },
          commit: () => undefined,
        } as unknown as Parameters<PkTransaction['addOffset']>[0]);
      }
    });
  }

  commit(): Promise<void> {
    return this.end(true);
  }

  abort(): Promise<void> {
    return this.end(false);
  }

  private end(commit: boolean): Promise<void> {
    return wrap(commit ? 'committing a transaction' : 'aborting a transaction', async () => {
      const txn = this.txn;
      this.txn = undefined;
      if (txn === undefined) return;
      try {
        // Nothing reached the broker: EndTxn would be refused; forget the transaction locally.
        if (!this.touched) await txn.cancel();
        else if (commit) await txn.commit();
        else await txn.abort();
      } catch (err) {
        // A failed EndTxn leaves the library's transaction set: clear it so that close() works.
        await txn.cancel().catch(() => undefined);
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return wrap('closing a transactional producer', async () => {
      await this.txn?.cancel().catch(() => undefined);
      this.txn = undefined;
      await this.producer.close();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching

interface Position {
  tp: TopicPartition;
  offset: number;
  paused: boolean;
  /** Bumped by every seek: a batch fetched from an older position is dropped. */
  epoch: number;
}

interface FetchResponsePartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  records: FetchedBatch[] | null;
}

interface FetchResponse {
  responses: { topicId: string; partitions: FetchResponsePartition[] }[];
}

const OFFSET_OUT_OF_RANGE = 1;

/**
 * The fetch loop of one consumer: every assigned, unpaused partition is fetched from its
 * position, one request per leader; each partition's batch is handed on and the next fetch
 * waits until every handler of the previous one returned.
 */
/** What one node answered a fetch (undefined: nothing usable), with what it was asked. */
interface NodeAnswer {
  asked: { p: Position; offset: number; epoch: number }[];
  response: FetchResponse | undefined;
  /** Why there is no response, when the fetch failed. */
  error?: unknown;
}

/** How much longer than its max wait a fetch may take before the round goes on without it, ms. */
const SLOW_FETCH_MS = 5000;

/** A batch handler's own failure, carried out of the fetch loop's retrying of broker failures. */
class HandlerFailure extends Error {
  constructor(cause: unknown) {
    super('a batch handler failed', { cause });
  }
}

class FetchLoop {
  private readonly consumer: Consumer;
  private readonly positions = new Map<string, Position>();
  /** Paused partitions, including ones not positioned yet. */
  private readonly paused = new Set<string>();
  private readonly opts: Required<PartitionReaderOptions>;
  private readonly onReset: (tp: TopicPartition) => Promise<number>;
  private running = false;
  private wake: (() => void) | undefined;
  private done: Promise<void> | undefined;
  private failures = 0;
  /**
   * Fetches that outlasted their round's deadline (a broker that froze answers nothing until its
   * request timeout), by node: its partitions wait for that answer, the others go on.
   */
  private readonly slow = new Map<number, { answer: Promise<NodeAnswer>; settled: boolean }>();

  constructor(
    consumer: Consumer,
    opts: PartitionReaderOptions,
    onReset: (tp: TopicPartition) => Promise<number>,
  ) {
    this.consumer = consumer;
    this.opts = {
      maxWaitMs: opts.maxWaitMs ?? 100,
      maxBytesPerPartition: opts.maxBytesPerPartition ?? 1048576,
      maxBytes: opts.maxBytes ?? 52428800,
    };
    this.onReset = onReset;
  }

  set(tp: TopicPartition, offset: number): void {
    const key = tpKey(tp);
    const p = this.positions.get(key);
    if (p === undefined) {
      this.positions.set(key, {
        tp: { topic: tp.topic, partition: tp.partition },
        offset,
        paused: this.paused.has(key),
        epoch: 0,
      });
      this.consumer.topics.track(tp.topic);
    } else {
      p.offset = offset;
      p.epoch++;
    }
    this.wake?.();
  }

  has(tp: TopicPartition): boolean {
    return this.positions.has(tpKey(tp));
  }

  remove(tp: TopicPartition): void {
    this.paused.delete(tpKey(tp));
    if (this.positions.delete(tpKey(tp))) this.consumer.topics.untrack(tp.topic);
  }

  clear(): void {
    for (const p of [...this.positions.values()]) this.remove(p.tp);
  }

  pause(tp: TopicPartition, paused: boolean): void {
    if (paused) this.paused.add(tpKey(tp));
    else this.paused.delete(tpKey(tp));
    const p = this.positions.get(tpKey(tp));
    if (p === undefined) return;
    p.paused = paused;
    if (!paused) this.wake?.();
  }

  start(deliver: (batch: RecordBatch) => Promise<void> | void, fail: (err: unknown) => void): void {
    if (this.running) return;
    this.running = true;
    this.done = this.run(deliver).catch((err: unknown) => {
      this.running = false;
      fail(err);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.done;
  }

  private async run(deliver: (batch: RecordBatch) => Promise<void> | void): Promise<void> {
    // One fetch ahead: the next round's Fetch is on the wire while the handler works on this
    // round's batches, and its answer is accepted only once they are done (in order, and after any
    // pause, seek or revocation the handler made). At most one round is held beyond the handler's.
    let delivering: Promise<void> = Promise.resolve();
    let deliveryFailure: { err: unknown } | undefined;
    const settle = async (): Promise<void> => {
      await delivering;
      // A handler's failure is its own, not the broker's: it ends the loop, never retried here.
      if (deliveryFailure !== undefined) throw new HandlerFailure(deliveryFailure.err);
    };
    let refresh = false;
    try {
      while (this.running) {
        const wanted = [...this.positions.values()].filter((p) => !p.paused);
        if (wanted.length === 0) {
          await settle();
          if ([...this.positions.values()].some((p) => !p.paused)) continue;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, 1000).unref();
          });
          this.wake = undefined;
          continue;
        }
        try {
          const topics = [...new Set(wanted.map((p) => p.tp.topic))];
          const metadata = await this.consumer.metadata({ topics, forceUpdate: refresh });
          refresh = false;
          // Answers of slow fetches that came since: accepted in this round, if they still apply.
          const late: Promise<NodeAnswer>[] = [];
          for (const [node, s] of this.slow) {
            if (!s.settled) continue;
            this.slow.delete(node);
            late.push(s.answer);
          }
          const byNode = new Map<number, Position[]>();
          for (const p of wanted) {
            const leader = metadata.topics.get(p.tp.topic)?.partitions[p.tp.partition]?.leader;
            if (leader === undefined || leader < 0) {
              refresh = true;
              continue;
            }
            if (this.slow.has(leader)) continue;
            let list = byNode.get(leader);
            if (list === undefined) byNode.set(leader, (list = []));
            list.push(p);
          }
          const idToTopic = new Map<string, string>();
          for (const t of topics) {
            const id = metadata.topics.get(t)?.id;
            if (id !== undefined) idToTopic.set(id, t);
          }
          const answers = await Promise.all([
            ...late,
            ...[...byNode].map(async ([node, list]): Promise<NodeAnswer> => {
              const asked = list.map((p) => ({ p, offset: p.offset, epoch: p.epoch }));
              const answer = this.fetchNode(node, asked, metadata.topics).then(
                (response): NodeAnswer => ({ asked, response }),
                (error: unknown): NodeAnswer => ({ asked, response: undefined, error }),
              );
              let timer: NodeJS.Timeout | undefined;
              const deadline = new Promise<undefined>((resolve) => {
                timer = setTimeout(() => resolve(undefined), this.opts.maxWaitMs + SLOW_FETCH_MS);
              });
              const first = await Promise.race([answer, deadline]);
              clearTimeout(timer);
              if (first !== undefined) return first;
              // Not answered in time: the other nodes' partitions go on without it, and this
              // node is not asked again until it answers (or its request times out).
              const slow = { answer, settled: false };
              void answer.then(() => {
                slow.settled = true;
                this.wake?.();
              });
              this.slow.set(node, slow);
              refresh = true;
              return { asked, response: undefined };
            }),
          ]);
          await settle();
          const deliveries: Promise<void>[] = [];
          let failed: unknown;
          for (const { asked, response, error } of answers) {
            if (response === undefined) {
              refresh = true;
              failed ??= error;
              continue;
            }
            for (const t of response.responses) {
              const topic = idToTopic.get(t.topicId) ?? t.topicId;
              for (const part of t.partitions) {
                const a = asked.find(
                  (x) => x.p.tp.topic === topic && x.p.tp.partition === part.partitionIndex,
                );
                if (a === undefined) continue;
                const batch = await this.accept(a, part);
                if (batch === undefined) continue;
                // Called now, in order; a handler that throws rejects its own delivery.
                deliveries.push((async () => deliver(batch))());
              }
            }
          }
          delivering = Promise.all(deliveries).then(
            () => undefined,
            (err: unknown) => {
              deliveryFailure ??= { err };
            },
          );
          // A node that failed, with nothing to deliver from the others: back off before the next round.
          if (failed !== undefined && deliveries.length === 0)
            throw failed instanceof Error ? failed : new Error(JSON.stringify(failed));
          if (failed === undefined) this.failures = 0;
        } catch (err) {
          if (err instanceof HandlerFailure) throw err.cause;
          if (!this.running) return;
          // Fetching changes nothing: whatever failed (a broker paused or gone, leadership moving)
          // is tried again, with fresh metadata, for about two minutes before it counts as fatal.
          const e = classifyKafkaError(err, 'fetching');
          if (++this.failures > 60) throw e;
          refresh = true;
          await sleep(Math.min(100 * 2 ** this.failures, 2000));
        }
      }
    } finally {
      await delivering;
    }
    if (deliveryFailure !== undefined) throw deliveryFailure.err;
  }

  /** One Fetch to `node`; a response with partition errors still carries the other partitions. */
  private async fetchNode(
    node: number,
    asked: { p: Position; offset: number }[],
    topics: Map<string, { id: string }>,
  ): Promise<FetchResponse | undefined> {
    const byTopic = new Map<string, { p: Position; offset: number }[]>();
    for (const a of asked) {
      let list = byTopic.get(a.p.tp.topic);
      if (list === undefined) byTopic.set(a.p.tp.topic, (list = []));
      list.push(a);
    }
    const request = [...byTopic].map(([topic, list]) => ({
      topicId: topics.get(topic)!.id,
      partitions: list.map((a) => ({
        partition: a.p.tp.partition,
        fetchOffset: BigInt(a.offset),
        partitionMaxBytes: this.opts.maxBytesPerPartition,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      })),
    }));
    try {
      return (await this.consumer.fetch({
        node,
        topics: request,
        maxWaitTime: this.opts.maxWaitMs,
        maxBytes: this.opts.maxBytes,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      })) as unknown as FetchResponse;
    } catch (err) {
      let response: FetchResponse | undefined;
      walkErrors(err, (e) => {
        if (response === undefined && e.response !== undefined && typeof e.response === 'object') {
          const r = e.response as Partial<FetchResponse>;
          if (Array.isArray(r.responses)) response = r as FetchResponse;
        }
      });
      if (response === undefined) throw err;
      return response;
    }
  }

  private async accept(
    a: { p: Position; offset: number; epoch: number },
    part: FetchResponsePartition,
  ): Promise<RecordBatch | undefined> {
    const { p } = a;
    // Moved, paused, dropped or fetched again elsewhere while the fetch was out: its result no
    // longer applies.
    if (this.positions.get(tpKey(p.tp)) !== p || p.epoch !== a.epoch || p.paused || p.offset !== a.offset)
      return undefined;
    if (part.errorCode === OFFSET_OUT_OF_RANGE) {
      const offset = await this.onReset(p.tp);
      if (this.positions.get(tpKey(p.tp)) === p && p.epoch === a.epoch) p.offset = offset;
      return undefined;
    }
    if (part.errorCode !== 0) return undefined; // leadership moved: the next round refreshes metadata
    const { records, nextOffset } = committedRecords(part.records ?? [], part.abortedTransactions, a.offset);
    if (nextOffset === a.offset && records.length === 0) return undefined;
    p.offset = nextOffset;
    return {
      topic: p.tp.topic,
      partition: p.tp.partition,
      records,
      nextOffset,
      highWatermark: Number(part.highWatermark),
    };
  }
}

const listOffset = async (consumer: Consumer, tp: TopicPartition, which: 'earliest' | 'latest') => {
  const offsets = await consumer.listOffsets({
    topics: [tp.topic],
    partitions: { [tp.topic]: [tp.partition] },
    timestamp: which === 'earliest' ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  return Number(offsets.get(tp.topic)?.[tp.partition] ?? 0n);
};

const deferredFailure = (): { failed: Promise<never>; fail: (err: unknown) => void } => {
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { failed, fail };
};

// ---------------------------------------------------------------------------------------------
// Partition reader (no group)

class PkPartitionReader implements PartitionReader {
  private readonly consumer: Consumer;
  private readonly loop: FetchLoop;
  readonly failed: Promise<never>;
  private readonly fail: (err: unknown) => void;

  constructor(client: PkKafkaClient, opts: PartitionReaderOptions) {
    const base = client.base('reader');
    // Never joins: the group id only satisfies the constructor.
    this.consumer = client.watched(new TurningConsumer({ ...base, groupId: `${base.clientId}-no-group` }));
    this.loop = new FetchLoop(this.consumer, opts, (tp) => listOffset(this.consumer, tp, 'earliest'));
    ({ failed: this.failed, fail: this.fail } = deferredFailure());
    // An 'error' event without a listener would throw: report it as the reader's failure.
    this.consumer.on('error', (err: unknown) => this.fail(classifyKafkaError(err, 'reading partitions')));
  }

  assign(tp: TopicPartition, offset: number): void {
    this.loop.set(tp, offset);
  }

  unassign(tp: TopicPartition): void {
    this.loop.remove(tp);
  }

  start(onRecords: (batch: RecordBatch) => Promise<void> | void): void {
    this.loop.start(onRecords, (err) => this.fail(classifyKafkaError(err, 'reading partitions')));
  }

  async close(): Promise<void> {
    await this.loop.stop();
    await wrap('closing a reader', () => this.consumer.close(true));
  }
}

// ---------------------------------------------------------------------------------------------
// Group consumer

const COOPERATIVE_STICKY = { name: 'cooperative-sticky', version: 3 };
const ROUND_ROBIN = { name: 'roundrobin', version: 1 };

class PkGroupConsumer implements GroupConsumer {
  private readonly client: PkKafkaClient;
  private readonly o: GroupConsumerOptions;
  private readonly consumer: Consumer;
  private readonly loop: FetchLoop;
  private readonly topics: Set<string>;
  private owned = new Map<string, TopicPartition>();
  private lastMemberId: string | undefined;
  private handlers: GroupConsumerHandlers | undefined;
  /** When the coordinator last answered this member (a heartbeat or a join). */
  private lastContact = Date.now();
  /**
   * The member id and generation of the assignment this member knows. The library updates its
   * own at the JoinGroup answer, before the SyncGroup that tells the assignment: offsets sent in
   * between would carry a generation whose partitions this member has not yet heard of (and may
   * no longer own) — an expelled member would commit what it applied meanwhile from stale state.
   */
  private known = { memberId: '', generationId: -1 };
  private closed = false;
  readonly failed: Promise<never>;
  private readonly fail: (err: unknown) => void;

  constructor(client: PkKafkaClient, o: GroupConsumerOptions) {
    this.client = client;
    this.o = o;
    this.topics = new Set(o.topics);
    const advertise = o.advertise;
    const rebalanceTimeout = o.rebalanceTimeoutMs ?? Math.max(o.sessionTimeoutMs ?? 10000, 10000);
    this.consumer = client.watched(
      new TurningConsumer({
        ...client.base('group'),
        // A JoinGroup may wait the whole rebalance timeout; nothing else takes longer. A request
        // unanswered past that (a coordinator that froze) is dropped, and the coordinator found
        // again, sooner than the default 31 s (as Java's consumer waits rebalance timeout + 5 s).
        requestTimeout: rebalanceTimeout + 5000,
        groupId: o.groupId,
        ...(o.groupInstanceId === undefined ? {} : { groupInstanceId: o.groupInstanceId }),
        sessionTimeout: o.sessionTimeoutMs ?? 10000,
        heartbeatInterval: o.heartbeatIntervalMs ?? 1000,
        rebalanceTimeout,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        protocols: [o.cooperative === true ? COOPERATIVE_STICKY : ROUND_ROBIN],
        ...(advertise === undefined ? {} : { protocolsMetadata: () => advertisedUserData(advertise) }),
      }),
    );
    this.loop = new FetchLoop(this.consumer, o, (tp) =>
      listOffset(this.consumer, tp, this.o.fallback ?? 'earliest'),
    );
    ({ failed: this.failed, fail: this.fail } = deferredFailure());
    client.groups.set(o.groupId, this.consumer);
  }

  async start(handlers: GroupConsumerHandlers): Promise<void> {
    this.handlers = handlers;
    this.consumer.on('consumer:group:join', () => this.assignmentChanged());
    this.consumer.on('consumer:heartbeat:end', () => {
      this.lastContact = Date.now();
    });
    this.consumer.on('consumer:group:rebalance', () => this.assignmentChanged());
    // The library reports a rejoin that failed after its retries as an 'error' event, and stops
    // heartbeating: a passing failure (a coordinator moving, a broker paused) is rejoined here.
    this.consumer.on('error', (err: unknown) => {
      if (this.closed) return;
      const e = classifyKafkaError(err, `consumer group ${this.o.groupId}`);
      if (e.retriable) this.rejoin();
      else this.fail(e);
    });
    this.consumer.topics.trackAll(...this.o.topics);
    this.lastContact = Date.now();
    await retrying(`joining consumer group ${this.o.groupId}`, () => this.consumer.joinGroup({}));
    this.loop.start(
      (batch) => handlers.onRecords(batch),
      (err) => this.fail(classifyKafkaError(err, `consumer group ${this.o.groupId}`)),
    );
  }

  private rejoining = false;

  /** Joins the group again, backing off, until it works, the consumer closes, or 5 minutes pass. */
  private rejoin(): void {
    if (this.rejoining || this.closed) return;
    this.rejoining = true;
    void (async () => {
      const deadline = Date.now() + 300_000;
      for (let attempt = 0; !this.closed; attempt++) {
        await sleep(Math.min(500 * 2 ** attempt, 5000));
        if (this.closed) break;
        try {
          await this.consumer.joinGroup({});
          break;
        } catch (err) {
          const e = classifyKafkaError(err, `rejoining consumer group ${this.o.groupId}`);
          if (!e.retriable || Date.now() > deadline) {
            this.fail(e);
            break;
          }
        }
      }
      this.rejoining = false;
    })();
  }

  private assignmentChanged(): void {
    const handlers = this.handlers;
    if (handlers === undefined || this.closed) return;
    const memberId = this.consumer.memberId ?? '';
    const current = new Map<string, TopicPartition>();
    for (const a of this.consumer.assignments ?? []) {
      if (!this.topics.has(a.topic)) continue;
      for (const partition of a.partitions) {
        const tp = { topic: a.topic, partition };
        current.set(tpKey(tp), tp);
      }
    }
    // A new member id, or no answer from the coordinator for a session (a process frozen past its
    // session, a zombie, may be handed the same partitions back after another instance processed
    // them): this member was expelled and joined again; nothing it owned is still its.
    const lost = (this.lastMemberId !== undefined && this.lastMemberId !== memberId) || this.sessionExpired();
    this.lastMemberId = memberId;
    this.lastContact = Date.now();
    this.known = { memberId, generationId: this.consumer.generationId };
    const revoked = [...this.owned].filter(([k]) => lost || !current.has(k)).map(([, tp]) => tp);
    const added = [...current].filter(([k]) => lost || !this.owned.has(k)).map(([, tp]) => tp);
    this.owned = current;
    for (const tp of revoked) this.loop.remove(tp);
    if (revoked.length > 0) handlers.onRevoked(revoked, lost);
    if (added.length > 0) {
      handlers.onAssigned(added);
      if (this.o.startAt === 'committed') void this.startFromCommitted(added);
    }
  }

  private sessionExpired(): boolean {
    return Date.now() - this.lastContact > (this.o.sessionTimeoutMs ?? 10000);
  }

  private async startFromCommitted(tps: TopicPartition[]): Promise<void> {
    try {
      const byTopic = new Map<string, number[]>();
      for (const tp of tps) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
      const committed = await retrying('reading committed offsets', () =>
        this.consumer.listCommittedOffsets({
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        }),
      );
      for (const tp of tps) {
        if (!this.owned.has(tpKey(tp)) || this.loop.has(tp)) continue;
        const c = Number(committed.get(tp.topic)?.[tp.partition] ?? -1n);
        const offset = c >= 0 ? c : await listOffset(this.consumer, tp, this.o.fallback ?? 'earliest');
        if (this.owned.has(tpKey(tp)) && !this.loop.has(tp)) this.loop.set(tp, offset);
      }
    } catch (err) {
      if (!this.closed) this.fail(classifyKafkaError(err, 'starting assigned partitions'));
    }
  }

  groupMetadata(): GroupMetadata {
    return {
      groupId: this.o.groupId,
      memberId: this.known.memberId,
      generationId: this.known.generationId,
      groupInstanceId: this.o.groupInstanceId ?? null,
    };
  }

  assignment(): TopicPartition[] {
    return [...this.owned.values()];
  }

  seek(tp: TopicPartition, offset: number): void {
    if (this.owned.has(tpKey(tp))) this.loop.set(tp, offset);
  }

  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.loop.pause(tp, true);
  }

  resume(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.loop.pause(tp, false);
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return wrap('committing offsets', () =>
      this.consumer.commit({
        offsets: offsets.map((o) => ({
          topic: o.topic,
          partition: o.partition,
          offset: BigInt(o.offset),
          leaderEpoch: -1,
        })),
      }),
    );
  }

  async close(opts: { leaveGroup?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.owned = new Map();
    await this.loop.stop();
    this.loop.clear();
    if (this.client.groups.get(this.o.groupId) === this.consumer) this.client.groups.delete(this.o.groupId);
    // The library's close() always sends LeaveGroup for a member it knows: a static member that
    // should keep its partitions for its restart is made unknown to it first.
    if (opts.leaveGroup === false) this.consumer.memberId = null;
    await wrap('closing a consumer', () => this.consumer.close(true));
  }
}

const advertisedUserData = (a: AdvertisedEndpoint): Buffer =>
  Buffer.from(JSON.stringify({ instance: a.instance, endpoint: a.endpoint }));

/** The endpoint in a member's userData; undefined for other userData (or none). */
const advertisedIn = (userData: Buffer | string | null | undefined): AdvertisedEndpoint | undefined => {
  if (userData === undefined || userData === null || userData.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData.toString());
  } catch {
    return undefined;
  }
  const { instance, endpoint } = (parsed ?? {}) as Record<string, unknown>;
  return typeof instance === 'string' && typeof endpoint === 'string' ? { instance, endpoint } : undefined;
};

// ---------------------------------------------------------------------------------------------
// Admin

class PkAdmin implements KafkaAdmin {
  private readonly admin: Admin;

  constructor(admin: Admin) {
    this.admin = admin;
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return retrying(`ensuring topics ${specs.map((s) => s.topic).join(', ')}`, async () => {
      const existing = new Set(await this.admin.listTopics({ includeInternals: false }));
      const missing = specs.filter((s) => !existing.has(s.topic));
      for (const s of missing) {
        try {
          await this.admin.createTopics({
            topics: [s.topic],
            partitions: s.partitions,
            // Unset: the broker's default.replication.factor (3 on the three-broker cluster).
            replicas: s.replicationFactor ?? -1,
            configs: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
          });
        } catch (err) {
          // Another process may have created it in between; that is fine.
          if (!apiIdsOf(err).has('TOPIC_ALREADY_EXISTS')) throw err;
        }
      }
      for (const s of specs) {
        const n = await this.leaderCount(s.topic);
        if (n !== s.partitions) {
          throw new TradewatchError(
            'KAFKA_TOPIC_MISMATCH',
            `topic ${s.topic} has ${n} partitions, expected ${s.partitions}`,
          );
        }
      }
    });
  }

  /** The topic's partition count once every partition has a leader (retriable until then). */
  private async leaderCount(topic: string): Promise<number> {
    const md = await this.admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (t === undefined || t.partitions.some((p) => p === undefined || p.leader < 0)) {
      throw new TradewatchError('KAFKA_TOPIC_NOT_READY', `topic ${topic} has no leader yet`, {
        retriable: true,
      });
    }
    return t.partitionsCount;
  }

  partitionCount(topic: string): Promise<number> {
    return retrying(`reading metadata of topic ${topic}`, async () => {
      try {
        return await this.leaderCount(topic);
      } catch (err) {
        if (apiIdsOf(err).has('UNKNOWN_TOPIC_OR_PARTITION') || /unknown topic/i.test(String(err))) {
          throw new TradewatchError('KAFKA_TOPIC_MISSING', `topic ${topic} does not exist`);
        }
        throw err;
      }
    });
  }

  listTopics(): Promise<string[]> {
    return wrap('listing topics', () => this.admin.listTopics({ includeInternals: false }));
  }

  deleteTopics(topics: readonly string[]): Promise<void> {
    return wrap('deleting topics', async () => {
      const existing = new Set(await this.admin.listTopics({ includeInternals: false }));
      const present = topics.filter((t) => existing.has(t));
      if (present.length > 0) await this.admin.deleteTopics({ topics: present });
    });
  }

  deleteGroups(groups: readonly string[]): Promise<void> {
    return wrap('deleting groups', () => this.admin.deleteGroups({ groups: [...groups] }));
  }

  logEnds(topic: string): Promise<Map<number, number>> {
    return retrying(`reading log end offsets of topic ${topic}`, async () => {
      const n = await this.partitionCount(topic);
      return this.offsetsAt(topic, n, ListOffsetTimestamps.LATEST, FetchIsolationLevels.READ_UNCOMMITTED);
    });
  }

  watermarks(topic: string): Promise<Watermarks[]> {
    return retrying(`reading offsets of topic ${topic}`, async () => {
      const n = await this.partitionCount(topic);
      const committed = FetchIsolationLevels.READ_COMMITTED;
      const low = await this.offsetsAt(topic, n, ListOffsetTimestamps.EARLIEST, committed);
      const high = await this.offsetsAt(topic, n, ListOffsetTimestamps.LATEST, committed);
      return Array.from({ length: n }, (_, partition) => ({
        partition,
        low: low.get(partition) ?? 0,
        high: high.get(partition) ?? 0,
      }));
    });
  }

  /** ListOffsets for every one of the topic's `n` partitions, by partition. */
  private async offsetsAt(
    topic: string,
    n: number,
    timestamp: bigint,
    isolationLevel: (typeof FetchIsolationLevels)[keyof typeof FetchIsolationLevels],
  ): Promise<Map<number, number>> {
    const [t] = await this.admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: n }, (_, partitionIndex) => ({ partitionIndex, timestamp })),
        },
      ],
      isolationLevel,
    });
    return new Map((t?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.offset)]));
  }

  committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
    return retrying(
      `reading committed offsets of group ${groupId}`,
      async () => {
        // Name every partition: asked for "all offsets", a coordinator leaves out a partition whose only
        // offset is still pending in a transaction, where it answers UNSTABLE_OFFSET_COMMIT (retried)
        // for a partition named in the request.
        const n = await this.partitionCount(topic);
        const partitionIndexes = Array.from({ length: n }, (_, i) => i);
        const [g] = await this.admin.listConsumerGroupOffsets({
          groups: [{ groupId, topics: [{ name: topic, partitionIndexes }] }],
          requireStable: true,
        });
        const out = new Map<number, number>();
        for (const t of g?.topics ?? []) {
          if (t.name !== topic) continue;
          for (const p of t.partitions)
            if (p.committedOffset >= 0n) out.set(p.partitionIndex, Number(p.committedOffset));
        }
        return out;
      },
      120000,
    );
  }

  setCommittedOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return wrap(`setting committed offsets of group ${groupId}`, async () => {
      const byTopic = new Map<string, { partition: number; offset: bigint }[]>();
      for (const o of offsets) {
        byTopic.set(o.topic, [
          ...(byTopic.get(o.topic) ?? []),
          { partition: o.partition, offset: BigInt(o.offset) },
        ]);
      }
      await this.admin.alterConsumerGroupOffsets({
        groupId,
        topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })),
      });
    });
  }

  describeGroupMembers(groupId: string, topic: string): Promise<GroupMembers> {
    // A dashboard asks this on a request: wait a little for a coordinator that is loading, not long.
    return retrying(
      `describing consumer group ${groupId}`,
      async () => {
        const groups = await this.admin.describeGroups({ groups: [groupId] });
        const g = groups.get(groupId);
        if (g === undefined) {
          throw new TradewatchError(
            'KAFKA_GROUP_MISSING',
            `describing consumer group ${groupId}: no answer`,
            {
              retriable: true,
            },
          );
        }
        if (g.members.size > 0 && g.protocolType !== '' && g.protocolType !== 'consumer') {
          throw new TradewatchError(
            'KAFKA_GROUP_UNREADABLE',
            `consumer group ${groupId} has protocol type ${g.protocolType}, not consumer`,
          );
        }
        const members: GroupMember[] = [...g.members.values()].map((m) => {
          const advertised = advertisedIn(m.metadata?.metadata);
          return {
            memberId: m.id,
            clientId: m.clientId,
            clientHost: m.clientHost,
            groupInstanceId: m.groupInstanceId ?? null,
            ...advertised,
            partitions: [...(m.assignments?.get(topic)?.partitions ?? [])].sort((a, b) => a - b),
          };
        });
        return { state: g.state, members };
      },
      5000,
    );
  }

  topicConfig(topic: string, names: readonly string[]): Promise<Record<string, string>> {
    return wrap(`describing topic ${topic}`, async () => {
      const [d] = await this.admin.describeConfigs({
        resources: [
          { resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: [...names] },
        ],
      });
      const out: Record<string, string> = {};
      for (const c of d?.configs ?? []) if (c.value !== null && c.value !== undefined) out[c.name] = c.value;
      return out;
    });
  }

  close(): Promise<void> {
    return wrap('closing an admin client', () => this.admin.close());
  }
}

export type { Compression };
