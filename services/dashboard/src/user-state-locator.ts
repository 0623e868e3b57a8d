// Finds the processor instance that holds a user's live state and asks it, as Kafka Streams'
// interactive queries do: the user's partition comes from the producer's partitioner (murmur2 of
// the user id), the owner from the processors' consumer group (each member advertises its state
// endpoint in its group metadata), and the state from that instance's
// `GET /v1/users/:userId/state`. When the group is rebalancing, nobody owns the partition, or the
// owner is restoring it, the answer says so instead of guessing.
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import type { Logger } from '@tradewatch/shared/logger';
import type { OwnerStatus, UserLiveState } from './api-types.ts';

export interface LocatedState {
  state: UserLiveState | null;
  owner: { partition: number; instance: string | null; status: OwnerStatus; message?: string };
}

export interface UserStateLocator {
  locate(userId: string): Promise<LocatedState>;
}

interface ProcessorAnswer {
  instance?: string;
  status?: string;
  message?: string;
  state?: UserLiveState | null;
}

const PARTITIONS_TTL_MS = 60000;

export class GroupUserStateLocator implements UserStateLocator {
  private readonly admin: KafkaAdmin;
  private readonly groupId: string;
  private readonly eventsTopic: string;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private partitions: { n: number; at: number } | undefined;

  constructor(o: {
    admin: KafkaAdmin;
    groupId: string;
    eventsTopic: string;
    timeoutMs: number;
    log: Logger;
  }) {
    this.admin = o.admin;
    this.groupId = o.groupId;
    this.eventsTopic = o.eventsTopic;
    this.timeoutMs = o.timeoutMs;
    this.log = o.log;
  }

  private async partitionCount(): Promise<number> {
    if (this.partitions === undefined || Date.now() - this.partitions.at > PARTITIONS_TTL_MS) {
      const marks = await this.admin.watermarks(this.eventsTopic);
      this.partitions = { n: marks.length, at: Date.now() };
    }
    return this.partitions.n;
  }

  async locate(userId: string): Promise<LocatedState> {
    const partition = partitionForKey(userId, await this.partitionCount());
    const group = await this.admin.describeGroupMembers(this.groupId, this.eventsTopic);
    const moving = (message: string): LocatedState => ({
      state: null,
      owner: { partition, instance: null, status: 'moving', message },
    });
    if (group.state !== 'Stable') {
      return moving(
        `the processors are rebalancing (group ${group.state}); partition ${partition} is moving`,
      );
    }
    const member = group.members.find((m) => m.partitions.includes(partition));
    if (member === undefined) return moving(`no processor owns partition ${partition} right now`);
    const instance = member.instance ?? member.clientId;
    if (member.endpoint === undefined) {
      return {
        state: null,
        owner: {
          partition,
          instance,
          status: 'unreachable',
          message: `${instance} advertises no state endpoint`,
        },
      };
    }
    let res: Response;
    let body: ProcessorAnswer;
    try {
      res = await fetch(
        `${member.endpoint.replace(/\/$/, '')}/v1/users/${encodeURIComponent(userId)}/state`,
        {
          signal: AbortSignal.timeout(this.timeoutMs),
        },
      );
      body = (await res.json()) as ProcessorAnswer;
    } catch (err) {
      this.log.warn({ err, instance, partition }, 'state query failed');
      return {
        state: null,
        owner: { partition, instance, status: 'unreachable', message: `${instance} did not answer` },
      };
    }
    if (res.status === 200)
      return { state: body.state ?? null, owner: { partition, instance, status: 'running' } };
    if (res.status === 503 && body.status === 'restoring') {
      return {
        state: null,
        owner: {
          partition,
          instance,
          status: 'restoring',
          message: `${instance} is restoring partition ${partition} from its changelog`,
        },
      };
    }
    if (res.status === 421) return moving(`partition ${partition} has just moved away from ${instance}`);
    return {
      state: null,
      owner: { partition, instance, status: 'unreachable', message: `${instance} answered ${res.status}` },
    };
  }
}
