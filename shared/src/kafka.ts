// Every use of the Kafka client library lives here: client construction, producers (idempotent
// and transactional), consumers (optionally advertising an endpoint in the group, as Kafka
// Streams' application.server), consumer-group descriptions, topic creation and error
// classification. Services depend on this module, never on kafkajs directly, so a change of
// client touches one place.
import {
  Kafka,
  logLevel as KafkaLogLevel,
  AssignerProtocol,
  Partitioners,
  PartitionAssigners,
  CompressionTypes,
  type Admin,
  type Assigner,
  type MemberDescription,
  type PartitionAssigner,
  type Consumer,
  type ConsumerConfig,
  type ITopicConfig,
  type KafkaConfig,
  type Message,
  type Producer,
  type Transaction,
  type EachBatchPayload,
  type KafkaMessage,
  type IHeaders,
} from 'kafkajs';
import type { Logger } from './logger.ts';
import { TradewatchError } from './errors.ts';

export type {
  Kafka,
  Admin,
  Consumer,
  Producer,
  Transaction,
  Message,
  EachBatchPayload,
  KafkaMessage,
  IHeaders,
};
export { CompressionTypes };

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** Connection and request timeouts, ms. */
  connectionTimeout?: number;
  requestTimeout?: number;
  retries?: number;
}

const levelName = (level: KafkaLogLevel): 'error' | 'warn' | 'info' | 'debug' => {
  switch (level) {
    case KafkaLogLevel.ERROR:
    case KafkaLogLevel.NOTHING:
      return 'error';
    case KafkaLogLevel.WARN:
      return 'warn';
    case KafkaLogLevel.INFO:
      return 'info';
    default:
      return 'debug';
  }
};

let warningFilterInstalled = false;
/**
 * kafkajs 2.2.4 schedules timers with a negative delay on Node >= 24 (tulios/kafkajs#1751);
 * Node clamps them to 1 ms, exactly the old behaviour, but prints a TimeoutNegativeWarning each
 * time. Drop that one warning and print every other as Node would.
 */
const filterKafkajsTimerWarning = (): void => {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const defaults = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    for (const listener of defaults) listener(warning);
  });
};

/** A kafkajs client whose own logs go through pino (at warn and above by default). */
export const createKafka = (opts: KafkaClientOptions): Kafka => {
  filterKafkajsTimerWarning();
  const log = opts.logger.child({ module: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: opts.connectionTimeout ?? 3000,
    requestTimeout: opts.requestTimeout ?? 30000,
    retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: opts.retries ?? 8 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, namespace, log: entry }) => {
        const { message, ...fields } = entry;
        // Retries are bounded on purpose (a request must fail rather than hang); transactions and
        // downstream deduplication keep exactly-once, so this start-up warning is noise.
        if (String(message).startsWith('Limiting retries for the idempotent producer')) return;
        log[levelName(level)]({ namespace, ...fields }, String(message));
      },
  };
  return new Kafka(config);
};

/** Producer for the gateway: idempotent, acks from all in-sync replicas, Java-compatible partitioning. */
export const createIdempotentProducer = (kafka: Kafka): Producer =>
  kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });

/**
 * A transactional producer. kafkajs lacks KIP-447, so zombie fencing relies on one
 * transactional id per input partition: a new owner's `connect()` (InitProducerId) fences the
 * previous owner's producer and aborts its open transaction.
 */
export const createTransactionalProducer = (
  kafka: Kafka,
  transactionalId: string,
  transactionTimeout: number,
): Producer =>
  kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout,
    allowAutoTopicCreation: false,
    // A transaction begun right after a commit meets CONCURRENT_TRANSACTIONS while the broker
    // writes the markers; kafkajs retries after initialRetryTime (tulios/kafkajs#304). 20 ms
    // instead of 100 took back-to-back transactions from ~99 ms to ~28 ms here.
    retry: { initialRetryTime: 20, maxRetryTime: 1000, retries: 10 },
    createPartitioner: Partitioners.DefaultPartitioner,
  });

const keyedPartitioner = Partitioners.DefaultPartitioner();

/**
 * The partition the producers above (kafkajs' DefaultPartitioner) give a record keyed `key` in a
 * topic of `partitions` partitions. partitionForKey (partitioner.ts) computes the same without
 * kafkajs; its test holds the two together.
 */
export const producerPartitionForKey = (key: string, partitions: number): number =>
  keyedPartitioner({
    topic: 'any',
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      partitionErrorCode: 0,
      leader: 0,
      replicas: [0],
      isr: [0],
    })),
    message: { key, value: null },
  });

type ConsumerSettings = Pick<
  ConsumerConfig,
  | 'groupId'
  | 'sessionTimeout'
  | 'heartbeatInterval'
  | 'rebalanceTimeout'
  | 'maxWaitTimeInMs'
  | 'minBytes'
  | 'maxBytes'
  | 'maxBytesPerPartition'
  | 'readUncommitted'
>;

/** Who a consumer-group member is and where it answers queries, carried in its member metadata. */
export interface AdvertisedEndpoint {
  /** The instance's name (e.g. PROCESSOR_INSTANCE_ID). */
  instance: string;
  /** Base URL of the instance's HTTP server, e.g. `http://10.0.0.5:9464`. */
  endpoint: string;
}

export interface ConsumerOptions extends ConsumerSettings {
  /**
   * Puts `{"instance","endpoint"}` into this member's metadata (userData) for
   * `describeGroupMembers`; partitions are assigned exactly as without it.
   */
  advertise?: AdvertisedEndpoint;
}

export const createConsumer = (kafka: Kafka, opts: ConsumerOptions): Consumer => {
  const { advertise, ...settings } = opts;
  return kafka.consumer({
    allowAutoTopicCreation: false,
    ...settings,
    ...(advertise === undefined ? {} : { partitionAssigners: [advertisingRoundRobin(advertise)] }),
  });
};

/**
 * kafkajs' default round-robin assigner, with the endpoint in the member metadata's userData.
 * The broker picks a protocol (assigner) name that every member offers, and the leader assigns
 * with its own assigner of that name; keeping kafkajs' name means members with and without an
 * endpoint (or of an older release) still agree, and whichever leads assigns the same way.
 */
const advertisingRoundRobin =
  (advertised: AdvertisedEndpoint): PartitionAssigner =>
  (config): Assigner => {
    const roundRobin = PartitionAssigners.roundRobin(config);
    const userData = Buffer.from(
      JSON.stringify({ instance: advertised.instance, endpoint: advertised.endpoint }),
    );
    return {
      name: roundRobin.name,
      version: roundRobin.version,
      assign: (group) => roundRobin.assign(group),
      protocol: ({ topics }) => ({
        name: roundRobin.name,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: roundRobin.version, topics, userData }),
      }),
    };
  };

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  /** From the advertised endpoint; absent when the member advertises none. */
  instance?: string;
  endpoint?: string;
  /** Partitions of the described topic assigned to the member, ascending. */
  partitions: number[];
}

export interface GroupMembers {
  /** Stable, PreparingRebalance, CompletingRebalance, Empty or Dead (a group that does not exist). */
  state: string;
  /**
   * The group's members. Outside Stable, the broker sends no metadata or assignment: members
   * then have no endpoint and no partitions.
   */
  members: GroupMember[];
}

/**
 * Describes a consumer group: each member, the endpoint it advertises (see `advertise`) and the
 * partitions of `topic` assigned to it. This is how a reader finds which instance holds a
 * partition's state.
 */
export const describeGroupMembers = async (
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<GroupMembers> => {
  // A dashboard asks this on a request: wait a little for a coordinator that is loading, not long.
  const { groups } = await retryingAdmin(
    `describing consumer group ${groupId}`,
    () => admin.describeGroups([groupId]),
    5000,
  );
  const group = groups.find((g) => g.groupId === groupId);
  if (group === undefined) {
    throw new TradewatchError('KAFKA_GROUP_MISSING', `describing consumer group ${groupId}: no answer`, {
      retriable: true,
    });
  }
  if (group.members.length > 0 && group.protocolType !== '' && group.protocolType !== 'consumer') {
    throw new TradewatchError(
      'KAFKA_GROUP_UNREADABLE',
      `consumer group ${groupId} has protocol type ${group.protocolType}, not consumer`,
    );
  }
  return {
    state: group.state,
    members: group.members.map((m) => describeMember(groupId, topic, m)),
  };
};

const describeMember = (groupId: string, topic: string, m: MemberDescription): GroupMember => {
  let partitions: number[] = [];
  let advertised: AdvertisedEndpoint | undefined;
  try {
    if (m.memberAssignment.length > 0) {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      partitions = [...(assignment?.assignment[topic] ?? [])].sort((a, b) => a - b);
    }
    if (m.memberMetadata.length > 0) {
      advertised = advertisedIn(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData);
    }
  } catch (err) {
    throw new TradewatchError(
      'KAFKA_GROUP_UNREADABLE',
      `consumer group ${groupId}: member ${m.memberId} has unreadable metadata or assignment`,
      { cause: err },
    );
  }
  return {
    memberId: m.memberId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    ...advertised,
    partitions,
  };
};

/** The endpoint in a member's userData; undefined for other assigners' userData (or none). */
const advertisedIn = (userData: Buffer | undefined | null): AdvertisedEndpoint | undefined => {
  if (userData === undefined || userData === null || userData.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData.toString('utf8'));
  } catch {
    return undefined;
  }
  const { instance, endpoint } = (parsed ?? {}) as Record<string, unknown>;
  return typeof instance === 'string' && typeof endpoint === 'string' ? { instance, endpoint } : undefined;
};

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor?: number;
  config?: Record<string, string>;
}

/**
 * Creates the topics that do not exist yet, with explicit partition counts and settings, and
 * checks that the ones that do exist have the expected partition count.
 */
/**
 * Runs an admin operation again while it fails with a retriable error, up to a deadline: right
 * after a topic is created or a broker starts, metadata requests briefly answer
 * UNKNOWN_TOPIC_OR_PARTITION or "coordinator loading".
 */
const retryingAdmin = async <T>(what: string, fn: () => Promise<T>, deadlineMs = 30000): Promise<T> => {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = classifyKafkaError(err);
      if (!e.retriable || Date.now() > deadline) {
        throw new TradewatchError(e.code, `${what}: ${e.message}`, { retriable: e.retriable, cause: err });
      }
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
    }
  }
};

export const ensureTopics = (admin: Admin, specs: readonly TopicSpec[]): Promise<void> =>
  retryingAdmin(`ensuring topics ${specs.map((s) => s.topic).join(', ')}`, () =>
    ensureTopicsOnce(admin, specs),
  );

const ensureTopicsOnce = async (admin: Admin, specs: readonly TopicSpec[]): Promise<void> => {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    const topics: ITopicConfig[] = missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      replicationFactor: s.replicationFactor ?? 1,
      configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
    }));
    try {
      await admin.createTopics({ topics, waitForLeaders: true });
    } catch (err) {
      // Another process may have created them in between; that is fine if they now exist.
      const now = new Set(await admin.listTopics());
      if (missing.some((s) => !now.has(s.topic))) throw classifyKafkaError(err);
    }
  }
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length > 0) {
    const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
    for (const t of meta.topics) {
      const spec = present.find((s) => s.topic === t.name)!;
      if (t.partitions.length !== spec.partitions) {
        throw new TradewatchError(
          'KAFKA_TOPIC_MISMATCH',
          `topic ${t.name} has ${t.partitions.length} partitions, expected ${spec.partitions}`,
        );
      }
    }
  }
};

export const partitionCount = async (admin: Admin, topic: string): Promise<number> => {
  const meta = await retryingAdmin(`reading metadata of topic ${topic}`, () =>
    admin.fetchTopicMetadata({ topics: [topic] }),
  );
  const n = meta.topics[0]?.partitions.length ?? 0;
  if (n === 0) throw new TradewatchError('KAFKA_TOPIC_MISSING', `topic ${topic} does not exist`);
  return n;
};

/** Errors that mean this process is a zombie: another instance owns its transactional id. */
const FENCED = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/** Maps any kafkajs error to a TradewatchError; kafkajs' own `retriable` flag decides retries. */
export const classifyKafkaError = (err: unknown): TradewatchError => {
  if (err instanceof TradewatchError) return err;
  const e = err as { name?: string; type?: string; message?: string; retriable?: boolean };
  if (e.type !== undefined && FENCED.has(e.type)) {
    return new TradewatchError('KAFKA_FENCED', `producer fenced: ${e.message ?? e.type}`, { cause: err });
  }
  return new TradewatchError('KAFKA_ERROR', `${e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
    retriable:
      e.retriable === true ||
      e.name === 'KafkaJSNumberOfRetriesExceeded' ||
      e.name === 'KafkaJSConnectionError',
    cause: err,
  });
};

export const headerString = (headers: IHeaders | undefined, name: string): string | undefined => {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
};
