// The interactive query of one user's live state (as Kafka Streams' interactive queries): which
// partition holds the user (the gateway's partitioner, partitioner.ts), and what this instance
// can say about it: the state its task has applied, or that the partition is restoring here, or
// that another instance owns it (the consumer group's advertised endpoints say which). Pure: no
// I/O; the HTTP server (processor-http-server.ts) maps the answers to statuses.
import { LoginEventSchema } from '@tradewatch/shared/events';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import type { UserStateView } from '@tradewatch/shared/user-state-store';

export type { UserStateView } from '@tradewatch/shared/user-state-store';

/** What the owner of the state (the stream processor) knows about a user of a partition. */
export type UserStateLookup =
  | { status: 'not_owner' }
  | { status: 'restoring' }
  | {
      status: 'running';
      /** Offset after the last record of the partition applied to the state; null: none yet. */
      appliedOffset: number | null;
      /** null: the partition's state holds nothing for the user. */
      state: UserStateView | null;
    };

/** The port the query reads through; StreamProcessor implements it. */
export interface UserStateSource {
  lookupUser(partition: number, userId: string): UserStateLookup;
}

export interface UserStateBody {
  userId: string;
  partition: number;
  instance: string;
  status: 'running';
  appliedOffset: number | null;
  state: UserStateView | null;
}

export type UserStateErrorCode = 'invalid_user_id' | 'not_owner' | 'restoring';

export interface UserStateErrorBody {
  error: UserStateErrorCode;
  message: string;
  userId?: string;
  partition?: number;
  instance?: string;
  status?: 'not_owner' | 'restoring';
}

export type UserStateAnswer = { ok: true; body: UserStateBody } | { ok: false; body: UserStateErrorBody };

// The userId rule of the event contract (docs/integrators.md, "Events"), read from its schema so that it is written once.
const USER_ID = LoginEventSchema.properties.userId;
const USER_ID_PATTERN = new RegExp(USER_ID.pattern ?? '');
const USER_ID_MIN = USER_ID.minLength ?? 1;
const USER_ID_MAX = USER_ID.maxLength ?? Infinity;

export const isValidUserId = (userId: string): boolean =>
  userId.length >= USER_ID_MIN && userId.length <= USER_ID_MAX && USER_ID_PATTERN.test(userId);

export interface UserStateQueryOptions {
  source: UserStateSource;
  /** Partitions of the events topic: the gateway's partitioner maps a userId to one of them. */
  partitions: number;
  instance: string;
}

export class UserStateQuery {
  private readonly o: UserStateQueryOptions;

  constructor(options: UserStateQueryOptions) {
    this.o = options;
  }

  /** The user's partition, as the gateway's producer chose it. */
  partitionOf(userId: string): number {
    return partitionForKey(userId, this.o.partitions);
  }

  query(userId: string): UserStateAnswer {
    if (!isValidUserId(userId)) {
      return {
        ok: false,
        body: {
          error: 'invalid_user_id',
          message: `userId must be ${USER_ID_MIN}-${USER_ID_MAX} characters without control characters`,
        },
      };
    }
    const { instance } = this.o;
    const partition = this.partitionOf(userId);
    const found = this.o.source.lookupUser(partition, userId);
    switch (found.status) {
      case 'running':
        return {
          ok: true,
          body: {
            userId,
            partition,
            instance,
            status: 'running',
            appliedOffset: found.appliedOffset,
            state: found.state,
          },
        };
      case 'restoring':
        return {
          ok: false,
          body: {
            error: 'restoring',
            message: `partition ${partition} is being restored on this instance; ask again shortly`,
            userId,
            partition,
            instance,
            status: 'restoring',
          },
        };
      case 'not_owner':
        return {
          ok: false,
          body: {
            error: 'not_owner',
            message: `partition ${partition} is not owned by this instance; ask the owner the consumer group names`,
            userId,
            partition,
            instance,
            status: 'not_owner',
          },
        };
    }
  }
}
