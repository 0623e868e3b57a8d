// The Kafka port: the small interfaces tradewatch's services and tests talk to. One adapter
// (kafka/, entered through kafka-client.ts, on @platformatic/kafka) implements them; nothing
// else names the client library or its types, so code written against the port is tested with
// plain fakes of it and a change of client touches the adapter alone. Offsets are numbers (safe
// up to 2^53, far past any partition's life), keys and values Buffers as read, strings or
// Buffers when written.

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The offset of the next record to read: one past the last one processed. */
  offset: number;
}

/** A record as read: committed only (read_committed), never a control record. */
export interface ConsumedRecord {
  readonly offset: number;
  /** The record's timestamp, epoch ms (CreateTime unless the topic says LogAppendTime). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Headers by name (the first value of a repeated name); empty when the record has none. */
  readonly headers: ReadonlyMap<string, Buffer>;
}

/** What one fetch returned for one partition, in offset order. */
export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
  /**
   * Where the next fetch of the partition starts: past the last record and past transaction
   * markers and aborted records, which are not in `records`. Commit this, not last offset + 1.
   */
  readonly nextOffset: number;
  /** The partition's high watermark when fetched. */
  readonly highWatermark: number;
}

/** A record to write. Without `partition`, keyed records go where Java's partitioner puts them. */
export interface OutgoingRecord {
  topic: string;
  partition?: number;
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Readonly<Record<string, string | Buffer>>;
}

/** Where the records of one send to one partition landed: offsets base, base + 1, …, in order. */
export interface PartitionBaseOffset extends TopicPartition {
  baseOffset: number;
}

/** An idempotent producer: acks from all in-sync replicas, retries never duplicate. */
export interface Producer {
  send(records: readonly OutgoingRecord[]): Promise<PartitionBaseOffset[]>;
  close(): Promise<void>;
}

/**
 * Who committed consumer offsets belong to (Java's ConsumerGroupMetadata): the broker accepts a
 * transaction's offsets only from the group's current generation of this member (KIP-447), which
 * fences a zombie that was expelled from the group.
 */
export interface GroupMetadata {
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId: string | null;
}

/**
 * A transactional producer. `init` (InitProducerId) fences every earlier producer of the same
 * transactional id and aborts its open transaction; after that, one transaction at a time:
 * begin, send…, sendOffsets…, commit or abort. A fenced producer must be closed.
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  init(): Promise<void>;
  begin(): Promise<void>;
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /** Adds consumed offsets (the next offset to read) of `group` to the open transaction. */
  sendOffsets(offsets: readonly TopicPartitionOffset[], group: GroupMetadata): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

/** What a group consumer tells about its assignment. */
export interface AssignmentListener {
  /** Partitions this member now owns and did not before. */
  onAssigned(partitions: readonly TopicPartition[]): void;
  /**
   * Partitions this member no longer owns. `lost`: the member was expelled from the group (its
   * generation is gone), so someone else may already be processing them.
   */
  onRevoked(partitions: readonly TopicPartition[], lost: boolean): void;
}

export interface GroupConsumerHandlers extends AssignmentListener {
  /**
   * A fetched batch of an assigned, unpaused partition whose position was not moved meanwhile.
   * The next fetch waits for the returned promise (back-pressure); a rejection is fatal.
   */
  onRecords(batch: RecordBatch): Promise<void> | void;
}

/**
 * A member of a consumer group that is assigned partitions and reads them. Where a newly
 * assigned partition starts is set by `startAt`: the group's committed offset (and `fallback`
 * when it has none), or nothing until `seek` says where.
 */
export interface GroupConsumer {
  start(handlers: GroupConsumerHandlers): Promise<void>;
  groupMetadata(): GroupMetadata;
  assignment(): TopicPartition[];
  /** The next fetch of the partition starts at `offset`; a batch fetched before is dropped. */
  seek(tp: TopicPartition, offset: number): void;
  pause(tps: readonly TopicPartition[]): void;
  resume(tps: readonly TopicPartition[]): void;
  /** Commits offsets outside any transaction (at-least-once consumers such as the sink). */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /**
   * Stops fetching and closes. `leaveGroup: false` keeps a static member's partitions for its
   * restart (no rebalance) until its session times out.
   */
  close(opts?: { leaveGroup?: boolean }): Promise<void>;
  /** Rejects when the consumer hits an error it cannot recover from. */
  readonly failed: Promise<never>;
}

/** Reads chosen partitions from chosen offsets, without a consumer group (read_committed). */
export interface PartitionReader {
  /** Starts (or moves) reading the partition at `offset`; a batch fetched before is dropped. */
  assign(tp: TopicPartition, offset: number): void;
  unassign(tp: TopicPartition): void;
  start(onRecords: (batch: RecordBatch) => Promise<void> | void): void;
  close(): Promise<void>;
  readonly failed: Promise<never>;
}

export interface Watermarks {
  partition: number;
  /** The log start offset. */
  low: number;
  /** The last stable offset (read_committed): below it every transaction is decided. */
  high: number;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Unset: the broker's default (`default.replication.factor`). */
  replicationFactor?: number;
  /** Topic configs; unset ones (min.insync.replicas among them) are the broker's defaults. */
  config?: Record<string, string>;
}

/** Who a consumer-group member is and where it answers queries, carried in its member metadata. */
export interface AdvertisedEndpoint {
  /** The instance's name (e.g. PROCESSOR_INSTANCE_ID). */
  instance: string;
  /** Base URL of the instance's HTTP server, e.g. `http://10.0.0.5:9464`. */
  endpoint: string;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  groupInstanceId: string | null;
  /** From the advertised endpoint; absent when the member advertises none. */
  instance?: string;
  endpoint?: string;
  /** Partitions of the described topic assigned to the member, ascending. */
  partitions: number[];
}

export interface GroupMembers {
  /** Stable, PreparingRebalance, CompletingRebalance, Empty or Dead (a group that does not exist). */
  state: string;
  /** Outside Stable, members may have no endpoint and no partitions. */
  members: GroupMember[];
}

export interface KafkaAdmin {
  /** Creates missing topics; checks the partition count of those that exist. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>;
  partitionCount(topic: string): Promise<number>;
  listTopics(): Promise<string[]>;
  deleteTopics(topics: readonly string[]): Promise<void>;
  deleteGroups(groups: readonly string[]): Promise<void>;
  /** Log start and last stable offset of every partition, by partition. */
  watermarks(topic: string): Promise<Watermarks[]>;
  /**
   * The log end offset of every partition (read_uncommitted: past records of transactions still
   * open). Above the last stable offset, a transaction with records is undecided.
   */
  logEnds(topic: string): Promise<Map<number, number>>;
  /**
   * The group's committed offsets of `topic` by partition (absent: none). Stable: waits while a
   * transaction that commits offsets of these partitions is open (KIP-447).
   */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, number>>;
  /** Sets a group's committed offsets (the group must have no active member). */
  setCommittedOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void>;
  describeGroupMembers(groupId: string, topic: string): Promise<GroupMembers>;
  /** The values of the named settings of a topic. */
  topicConfig(topic: string, names: readonly string[]): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface GroupConsumerOptions {
  groupId: string;
  topics: readonly string[];
  /** Static membership (KIP-345): a restart within the session timeout keeps the partitions. */
  groupInstanceId?: string;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Cooperative-sticky (incremental) rebalancing instead of eager round-robin. */
  cooperative?: boolean;
  /** Where a newly assigned partition starts. */
  startAt: 'committed' | 'seek';
  /** With `startAt: 'committed'`, where a partition without a committed offset starts. */
  fallback?: 'earliest' | 'latest';
  maxWaitMs?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  /** Puts `{"instance","endpoint"}` into the member metadata for describeGroupMembers. */
  advertise?: AdvertisedEndpoint;
}

export interface PartitionReaderOptions {
  maxWaitMs?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
}

export interface ProducerOptions {
  compression?: Compression;
  /** Longest wait for one request, ms. */
  requestTimeoutMs?: number;
  /**
   * How many times a send is retried (backing off from 100 ms, doubling to 5 s) before it fails;
   * retries keep the batch's sequence numbers, so a batch written but not acknowledged is not
   * written twice. Default: a few quick ones.
   */
  retries?: number;
}

export interface TransactionalProducerOptions {
  transactionalId: string;
  /** The broker aborts a transaction open longer than this. */
  transactionTimeoutMs: number;
  compression?: Compression;
}

/** Everything a service builds its Kafka clients from. */
export interface KafkaClient {
  admin(): KafkaAdmin;
  producer(opts?: ProducerOptions): Producer;
  transactionalProducer(opts: TransactionalProducerOptions): TransactionalProducer;
  groupConsumer(opts: GroupConsumerOptions): GroupConsumer;
  partitionReader(opts?: PartitionReaderOptions): PartitionReader;
}

export const tpKey = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;

/** The first value of a header, as text. */
export const headerText = (record: ConsumedRecord, name: string): string | undefined =>
  record.headers.get(name)?.toString('utf8');
