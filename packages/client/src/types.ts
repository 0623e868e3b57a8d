// The events a game server sends and what the ingest API answers, as types. This is the API's
// contract written out for the client (the gateway's own schema is the authority: what it refuses
// comes back as an `invalid` outcome with the server's words).
import type { TradewatchClientError } from './errors.ts';

/** When it happened: an RFC 3339 string, integer epoch milliseconds, or a Date. */
export type Timestamp = string | number | Date;

interface EventBase {
  /** Unique across all game servers; the idempotency key. Generated (a UUID) when absent. */
  eventId?: string;
  /** The player; a player's events stay in order. */
  userId: string;
  ts: Timestamp;
}

export interface LoginEvent extends EventBase {
  type: 'login';
  /** The session's IP: the one the rule compares with the player's last 20 sessions. */
  ip: string;
}

export interface TradeEvent extends EventBase {
  type: 'trade';
  /** > 0, at most 1e12. */
  amount: number;
  /** Archived, but not used by detection: a trade counts as made from its login session's IP. */
  ip?: string;
  /** Default "gold". */
  currency?: string;
  itemId?: string;
  counterpartyId?: string;
}

export type GameEvent = LoginEvent | TradeEvent;

/** A problem the gateway found with an event: a JSON pointer into it and a message. */
export interface FieldProblem {
  path: string;
  message: string;
}

/** What became of one event given to `send`. */
export type EventOutcome =
  /** Durably in Kafka: published now, or earlier by a request with the same eventId and content. */
  | { status: 'accepted'; eventId: string }
  /** Refused by validation; nothing was published. Fix the event. */
  | { status: 'invalid'; eventId: string; problems: FieldProblem[] }
  /** The eventId was already accepted with different content: a bug in how ids are made. */
  | { status: 'conflict'; eventId: string }
  /** Not known to be in Kafka: unauthorized, retries exhausted, client closed, queue full. */
  | { status: 'failed'; eventId: string; error: TradewatchClientError };

export type ProcessedStage =
  | { state: 'pending'; committedOffset: number | null; lag: number }
  | { state: 'done'; committedOffset: number; flagged: boolean | null; alertId: string | null }
  | { state: 'unknown'; reason: string }
  | { state: 'skipped'; reason: string };

export type ArchivedStage =
  | { state: 'done'; archivedAt: number }
  | { state: 'pending' }
  | { state: 'unknown'; reason: string }
  | { state: 'skipped'; reason: string };

/** GET /v1/events/:eventId: where an accepted event is. */
export interface EventStatus {
  eventId: string;
  type: 'login' | 'trade';
  userId: string;
  sandbox: boolean;
  accepted: { receivedAt: number; topic: string; partition: number; offset: number };
  processed: ProcessedStage;
  archived: ArchivedStage;
}

/** Counts since the client was created. */
export interface ClientStats {
  /** Events waiting to be sent or waiting for a reply (retries included). */
  pending: number;
  requests: number;
  retries: number;
  /** From the gateway's replies: published by this client's requests, and already there. */
  accepted: number;
  duplicates: number;
  invalid: number;
  conflicts: number;
  failed: number;
}
