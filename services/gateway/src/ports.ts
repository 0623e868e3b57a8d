// The gateway's ports: what the request path needs from the outside world, as interfaces. main.ts
// plugs in the Kafka, Redis and ClickHouse adapters; unit tests plug in in-memory ones.
import type { GameEvent } from '@tradewatch/shared/events';

/**
 * Where a token's events go. `live` events reach detection and the archive; `sandbox` events
 * (an integrator's test token) are validated, deduplicated and answered the same way but go to a
 * topic of their own that nothing processes, with an idempotency ledger of their own.
 */
export type IngestMode = 'live' | 'sandbox';

/** Who sends: the game server a token belongs to, and whether the token is a sandbox token. */
export interface Caller {
  gameServerId: string;
  mode: IngestMode;
}

/** Where Kafka wrote a record. */
export interface EventPosition {
  partition: number;
  offset: number;
}

/** Resolves once every event is durably written (acks from all in-sync replicas), in order. */
export interface EventPublisher {
  /** The positions of the events, in the order given. */
  publish(events: readonly GameEvent[], mode: IngestMode): Promise<EventPosition[]>;
  /** The topic a mode's events are written to. */
  topic(mode: IngestMode): string;
}

/**
 * Per eventId: `accepted` (a 202 was, or could have been, returned for it within the window, with
 * the same content), `conflict` (accepted with different content), `pending` (claimed by another
 * request that is publishing it right now), or `claimed` (it is now ours to publish, until
 * `ttlMs` passes).
 */
export type ClaimResult = 'claimed' | 'accepted' | 'pending' | 'conflict';

export interface ClaimRequest {
  eventId: string;
  /** Digest of the event's content (eventFingerprint): what tells a retry from a reuse. */
  fingerprint: string;
}

/** What the ledger keeps of an accepted event for the window: enough to say where it is. */
export interface AcceptedRecord {
  eventId: string;
  fingerprint: string;
  gameServerId: string;
  type: GameEvent['type'];
  userId: string;
  /** The gateway's clock when it received the request (the record's receivedAt), epoch ms. */
  receivedAt: number;
  partition: number;
  offset: number;
}

export interface AcceptedLedger {
  /** Atomically classifies each id and claims the unclaimed ones for `owner`. */
  claim(
    mode: IngestMode,
    requests: readonly ClaimRequest[],
    owner: string,
    ttlMs: number,
  ): Promise<ClaimResult[]>;
  /** Records the events as accepted for the idempotency window (whoever claimed them). */
  markAccepted(mode: IngestMode, records: readonly AcceptedRecord[]): Promise<void>;
  /** Drops the claims that `owner` still holds on these ids, so that a retry may publish them. */
  release(mode: IngestMode, eventIds: readonly string[], owner: string): Promise<void>;
  /** Gives the claims that `owner` still holds on these ids `ttlMs` more (a publish outliving its request). */
  extend(mode: IngestMode, eventIds: readonly string[], owner: string, ttlMs: number): Promise<void>;
  /**
   * The record of an accepted event; undefined when the id is unknown, only claimed, or was
   * accepted by a gateway that kept no record (before the ledger stored one).
   */
  lookup(mode: IngestMode, eventId: string): Promise<AcceptedRecord | undefined>;
  /**
   * The alerts mark (PipelineProgress.alertsMark) first taken for an accepted event: `take` is
   * called only when none is kept yet, and its result is kept for the idempotency window. Keeping
   * the first one lets a later question decide what an earlier one could not.
   */
  alertsMarkOnce(mode: IngestMode, eventId: string, take: () => Promise<number>): Promise<number>;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the request could pass; only meaningful when not allowed. */
  retryAfterSec: number;
}

/** Events-per-second budget of each game server, shared by every gateway instance. */
export interface RateGate {
  take(gameServerId: string, events: number): Promise<RateDecision>;
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** How far the processors and the sink have come on the topics, read from their consumer groups. */
export interface PipelineProgress {
  /**
   * The processors' committed offset on a partition of the events topic: every record below it
   * has been applied and its alerts committed. null when the group has committed nothing there.
   */
  processorsCommitted(partition: number): Promise<number | null>;
  /**
   * Whether the sink has archived every alert that was committed on the alerts topic partition of
   * `userId` before `mark` was taken (see alertsMark).
   */
  alertsArchivedPast(userId: string, mark: number): Promise<boolean>;
  /**
   * A mark on the alerts topic partition of `userId`: its last stable offset now. Every alert
   * committed before this call lies below it.
   */
  alertsMark(userId: string): Promise<number>;
}

/** Rows of the archive (ClickHouse), looked up by the columns that lead its sorting keys. */
export interface ArchiveLookup {
  /** When the sink archived the event, epoch ms; undefined if it has no row. */
  eventArchivedAt(userId: string, eventId: string): Promise<number | undefined>;
  /** The archived alert with this id, if any. */
  alert(userId: string, alertId: string): Promise<{ alertId: string; archivedAt: number } | undefined>;
}
