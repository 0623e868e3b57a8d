// The group consumer. Group membership is the library's (JoinGroup/SyncGroup/Heartbeat, static
// membership with group.instance.id, cooperative-sticky), without its streams; assignments are
// diffed here into assigned / revoked / lost, and the partitions are read by a fetch loop
// (fetch-loop.ts). A member's advertised endpoint travels in its protocol userData, encoded and
// read here.
import { type Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import {
  tpKey,
  type AdvertisedEndpoint,
  type GroupConsumer,
  type GroupConsumerHandlers,
  type GroupConsumerOptions,
  type GroupMetadata,
  type TopicPartition,
  type TopicPartitionOffset,
} from '../kafka-port.ts';
import type { PkKafkaClient } from './client.ts';
import { classifyKafkaError, wrap } from './errors.ts';
import { FetchLoop, listOffset, deferredFailure } from './fetch-loop.ts';
import { TurningConsumer } from './library-clients.ts';
import { retrying, sleep } from './retry.ts';

const COOPERATIVE_STICKY = { name: 'cooperative-sticky', version: 3 };
const ROUND_ROBIN = { name: 'roundrobin', version: 1 };

export class PkGroupConsumer implements GroupConsumer {
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
export const advertisedIn = (
  userData: Buffer | string | null | undefined,
): AdvertisedEndpoint | undefined => {
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
