// Reading a `game-events` record: its value must be an event that passes the contract
// (decodeEvent) and its key must be the event's userId — the gateway keys every event by its
// user, so a record keyed otherwise was not written by the gateway and is not trusted (it would
// also sit on another user's partition). Used by every stage that reads the topic (the processor
// and the sink), so that they agree on which records are poison. Pure: no I/O.
import { decodeEvent, type GameEvent } from './events.ts';
import type { DeadLetterReason } from './dead-letters.ts';

export type DecodedEventRecord =
  | { ok: true; event: GameEvent }
  | {
      ok: false;
      reason: Extract<DeadLetterReason, 'not_json' | 'invalid_event' | 'key_mismatch'>;
      detail: string;
    };

const matches = (key: Buffer | string | null, userId: string): boolean => {
  if (key === null) return false;
  if (typeof key === 'string') return key === userId;
  // Most keys are ASCII: compare lengths before decoding.
  return key.length >= userId.length && key.toString('utf8') === userId;
};

export const decodeEventRecord = (key: Buffer | string | null, value: Buffer | null): DecodedEventRecord => {
  const decoded = decodeEvent(value);
  if (!decoded.ok) return decoded;
  if (!matches(key, decoded.event.userId)) {
    return { ok: false, reason: 'key_mismatch', detail: 'record key is not the userId' };
  }
  return decoded;
};
