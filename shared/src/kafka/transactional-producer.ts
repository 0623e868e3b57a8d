// The transactional producer. InitProducerId is sent with producerId -1 / epoch -1 (the library
// sends 0/0, which the broker reads as an epoch bump of producer 0 and answers PRODUCER_FENCED);
// offsets are added one TxnOffsetCommit at a time (concurrent calls share one request in 2.12.1)
// with the consumer's generation and member id (KIP-447); a retry back-off (retry.ts) keeps
// CONCURRENT_TRANSACTIONS after a commit from costing the library's default second.
import { compatibilityPartitioner } from '@platformatic/kafka';
import { TradewatchError } from '../errors.ts';
import type {
  GroupMetadata,
  OutgoingRecord,
  TopicPartitionOffset,
  TransactionalProducer,
  TransactionalProducerOptions,
} from '../kafka-port.ts';
import type { PkKafkaClient } from './client.ts';
import { wrap } from './errors.ts';
import { PkProducer } from './library-clients.ts';
import { sleep, transactionRetryDelay } from './retry.ts';
import { serializers, toPkMessage } from './serialisation.ts';

type PkTransaction = Awaited<ReturnType<PkProducer['beginTransaction']>>;

export class PkTransactionalProducer implements TransactionalProducer {
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
