// The admin client: topics, offsets, groups and topic configs. The reads that may follow a topic's
// creation or a broker's start are retried (retry.ts) while the broker answers with a passing
// state (UNKNOWN_TOPIC_OR_PARTITION, a coordinator loading); the rest fail at once, classified
// (errors.ts).
import {
  type Admin,
  ConfigResourceTypes,
  FetchIsolationLevels,
  ListOffsetTimestamps,
} from '@platformatic/kafka';
import { TradewatchError } from '../errors.ts';
import type {
  GroupMember,
  GroupMembers,
  KafkaAdmin,
  TopicPartitionOffset,
  TopicSpec,
  Watermarks,
} from '../kafka-port.ts';
import { apiIdsOf, wrap } from './errors.ts';
import { advertisedIn } from './group-consumer.ts';
import { retrying } from './retry.ts';

export class PkAdmin implements KafkaAdmin {
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
