// The product's topics, declared once: each topic's role, default name, partition count and
// topic configs. Services ensure the topics they need from here when they start (so that each
// starts on a fresh cluster) by naming roles, never by restating a spec; `npm start` ensures the
// whole pipeline's. Pure: ensureTopology only hands the specs to the admin port it is given.
//
// Replication is the cluster's: no topic names a replication factor or min.insync.replicas, so
// every topic takes the brokers' defaults. infra/infra.sh sets those by the cluster's size:
// replication factor 3 and min.insync.replicas=2 on three brokers, 1 and 1 on one
// (docs/three-brokers.md); another cluster keeps the defaults its operators chose.
import { TradewatchError } from './errors.ts';
import type { KafkaAdmin, TopicSpec } from './kafka-port.ts';

export const TOPIC_ROLES = [
  'events',
  'alerts',
  'shadowAlerts',
  'rules',
  'labels',
  'changelog',
  'deadLetters',
  'sandbox',
] as const;
export type TopicRole = (typeof TOPIC_ROLES)[number];

/** The topics the pipeline reads and writes: what `npm start` creates before any service. */
export const PIPELINE_TOPIC_ROLES: readonly TopicRole[] = TOPIC_ROLES.filter((r) => r !== 'sandbox');

// Default names; each service's config.ts reads the variable that overrides one.
export const DEFAULT_EVENTS_TOPIC = 'game-events';
export const DEFAULT_ALERTS_TOPIC = 'alerts';
export const DEFAULT_SHADOW_ALERTS_TOPIC = 'alerts.shadow';
export const DEFAULT_RULES_TOPIC = 'rules';
export const DEFAULT_LABELS_TOPIC = 'alert-labels';
export const DEFAULT_DEAD_LETTER_TOPIC = 'tradewatch.dead-letters';
/** One changelog per processor group: a group's state is its own. */
export const defaultChangelogTopic = (processorGroupId: string): string =>
  `tradewatch.${processorGroupId}.changelog`;
/** The sandbox tokens' events, beside the live events topic they are kept apart from. */
export const defaultSandboxTopic = (eventsTopic: string): string => `tradewatch.sandbox.${eventsTopic}`;

/**
 * A topic's partitions: a fixed count, or `events` — as many as the events topic, whose records
 * (keyed by user) they follow partition for partition.
 */
export type PartitionRule = number | 'events';

export interface TopicDeclaration {
  readonly partitions: PartitionRule;
  /** Topic configs; unset ones are the broker's defaults. */
  readonly config: Readonly<Record<string, string>>;
}

const DAY_MS = 24 * 3600 * 1000;

export const TOPOLOGY: Readonly<Record<TopicRole, TopicDeclaration>> = Object.freeze({
  /** Accepted events, written by the gateway. */
  events: { partitions: 'events', config: { 'retention.ms': String(7 * DAY_MS) } },
  /** Alerts, written by the processors in their transactions. */
  alerts: { partitions: 'events', config: { 'retention.ms': String(30 * DAY_MS) } },
  /** Alerts of shadow rule versions (never on `alerts`). */
  shadowAlerts: { partitions: 'events', config: {} },
  /**
   * Rule versions: one partition (one order every reader agrees on), compacted by rule id.
   * Compaction keeps only a key's newest record; event-time application needs the older
   * versions too (a shadow version must not hide the active one), so a version stays a year.
   */
  rules: {
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': String(365 * DAY_MS) },
  },
  /** Analysts' labels, written by the desk: kept, never compacted away (history is the contract). */
  labels: { partitions: 3, config: { 'retention.ms': '-1' } },
  /**
   * The processors' state, one record per user. Compaction cleans only rolled segments: small
   * segments keep the log (and so a restore) close to one record per user even while every
   * event rewrites a user.
   */
  changelog: {
    partitions: 'events',
    config: {
      'cleanup.policy': 'compact',
      'segment.bytes': String(64 * 1024 * 1024),
      'segment.ms': '600000',
      'min.cleanable.dirty.ratio': '0.3',
    },
  },
  /** Records no stage could read (shared/src/dead-letters.ts), from the processors and the sink. */
  deadLetters: { partitions: 1, config: {} },
  /** Sandbox tokens' events, created by a gateway that has one; read by nothing, kept a week. */
  sandbox: { partitions: 'events', config: { 'retention.ms': String(7 * DAY_MS) } },
});

/** The name each role has where it is used; a role left out is not asked for. */
export type TopicNames = Readonly<Partial<Record<TopicRole, string>>>;

export interface TopologySizes {
  /** The events topic's partitions: needed when a topic of rule `events` is named. */
  eventsPartitions?: number;
}

/** The specs of the named topics, in the order of TOPIC_ROLES. */
export const topicSpecs = (names: TopicNames, sizes: TopologySizes = {}): TopicSpec[] =>
  TOPIC_ROLES.flatMap((role) => {
    const topic = names[role];
    if (topic === undefined) return [];
    const { partitions, config } = TOPOLOGY[role];
    const count = partitions === 'events' ? sizes.eventsPartitions : partitions;
    if (count === undefined) {
      throw new TradewatchError(
        'TOPOLOGY_EVENTS_PARTITIONS_MISSING',
        `the ${role} topic has the events topic's partitions: give eventsPartitions`,
      );
    }
    return [{ topic, partitions: count, config: { ...config } }];
  });

/** Creates the named topics that are missing, and checks the partitions of those that exist. */
export const ensureTopology = (
  admin: Pick<KafkaAdmin, 'ensureTopics'>,
  names: TopicNames,
  sizes: TopologySizes = {},
): Promise<void> => admin.ensureTopics(topicSpecs(names, sizes));
