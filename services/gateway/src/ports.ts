// The gateway's ports: what the request path needs from the outside world, as interfaces. main.ts
// plugs in the Kafka and Redis adapters; unit tests plug in in-memory ones.
import type { GameEvent } from '@tradewatch/shared/events';

/** Resolves once every event is durably written (acks from all in-sync replicas), in order. */
export interface EventPublisher {
  publish(events: readonly GameEvent[]): Promise<void>;
}

/**
 * Per eventId: `accepted` (a 202 was, or could have been, returned for it within the window),
 * `pending` (claimed by another request that is publishing it right now), or `claimed` (it is
 * now ours to publish, until `ttlMs` passes).
 */
export type ClaimResult = 'claimed' | 'accepted' | 'pending';

export interface AcceptedLedger {
  /** Atomically classifies each id and claims the unclaimed ones for `owner`. */
  claim(eventIds: readonly string[], owner: string, ttlMs: number): Promise<ClaimResult[]>;
  /** Records the ids as accepted for the idempotency window (whoever claimed them). */
  markAccepted(eventIds: readonly string[]): Promise<void>;
  /** Drops the claims that `owner` still holds on these ids, so that a retry may publish them. */
  release(eventIds: readonly string[], owner: string): Promise<void>;
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
