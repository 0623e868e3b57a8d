// The client: the KafkaClient of kafka-port.ts on @platformatic/kafka. It makes the library's
// clients (each watched: its retries logged, its connections to a silent broker closed, with a
// BrokerWatch on a cluster of several brokers), the idempotent producer and the admin, and hands
// itself (settings, watch, group consumers by group id) to the transactional producer, group
// consumer and partition reader it creates. Keys are placed by Java's partitioner
// (compatibilityPartitioner), not the library's default.
import { type Consumer, compatibilityPartitioner } from '@platformatic/kafka';
import type { Logger } from '../logger.ts';
import type {
  GroupConsumer,
  GroupConsumerOptions,
  KafkaAdmin,
  KafkaClient,
  PartitionBaseOffset,
  PartitionReader,
  PartitionReaderOptions,
  Producer,
  ProducerOptions,
  TransactionalProducer,
  TransactionalProducerOptions,
} from '../kafka-port.ts';
import { BrokerWatch, brokerKey, parseBroker, type BrokerAddress } from '../kafka-broker-watch.ts';
import { PkAdmin } from './admin.ts';
import { wrap } from './errors.ts';
import { PkGroupConsumer } from './group-consumer.ts';
import { TurningAdmin, PkProducer, type LibraryClient } from './library-clients.ts';
import { PkPartitionReader } from './partition-reader.ts';
import {
  requestTimeouts,
  lastRetryError,
  retryCause,
  slowRetryDelay,
  retryDelay,
  retryCounter,
} from './retry.ts';
import { serializers, type PkMessage, toPkMessage } from './serialisation.ts';
import { PkTransactionalProducer } from './transactional-producer.ts';

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

export const createKafkaClient = (opts: KafkaClientOptions): KafkaClient => new PkKafkaClient(opts);

export class PkKafkaClient implements KafkaClient {
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
