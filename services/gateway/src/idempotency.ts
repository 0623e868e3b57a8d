// The accepted-events ledger in Redis: for each eventId, either a claim by the request that is
// publishing it (value = that request's owner id, expiring after the claim TTL) or the record of
// the accepted event (expiring after the idempotency window, 24 h by default): a fingerprint of
// its content, which tells an exact retry (a duplicate) from an eventId reused for another event
// (a conflict, 409), and where it is — game server, type, user, receivedAt, partition, offset —
// for GET /v1/events/:eventId. Keys are shared by every gateway instance, so retries may land on
// any of them. Sandbox events have keys of their own: a sandbox id never collides with a live one.
//
// Crash windows (a "retry" is the client sending the same eventIds again) and what covers each:
//   1. Before the claim (validation, rate limit): nothing is recorded; a retry is a first try.
//   2. Claimed, not yet acknowledged by Kafka (crash, or the publish failed): the client got no
//      202. If the gateway is alive it releases the claim and the retry publishes. If it crashed,
//      the claim expires after GATEWAY_CLAIM_TTL_MS; until then a retry gets 503 in_progress.
//   3. Two requests with the same eventId at once (a client retrying a request that is still in
//      flight, perhaps on another instance): the claim is atomic, the second gets 503 in_progress
//      and never publishes a copy.
//   4. The publish outlived its deadline (the client got 503) and Kafka acknowledges it later:
//      the gateway marks the ids accepted then, so the retry is answered 202 with duplicates; if
//      the late publish fails, the claim is released and the retry publishes. While such a
//      publish is outstanding (the producer retries a send for minutes), the gateway extends its
//      claims, so that a retry meanwhile gets 503 in_progress rather than publishing a copy.
//   5. Kafka acknowledged, the gateway crashed (or Redis failed) before marking the ids accepted:
//      the events are in Kafka and the client got no 202 (or, when only Redis failed, a 202). The
//      claim expires and a retry publishes a second copy. The gateway cannot close this window on
//      its own (it would need one atomic commit across Kafka and Redis); it is closed downstream:
//      the processor ignores an eventId it has already applied (docs/analysts.md, "The detection rule") and the archive keeps one
//      row per eventId. The same holds when one produce request is written to some partitions
//      and fails on others, when Redis loses recent writes (restart without fsync, failover), and
//      for a retry after the idempotency window.
//   6. Marked accepted, then a crash or a lost connection before the 202 reached the client: the
//      retry finds every id accepted and is answered 202 with duplicates, publishing nothing.
//
// Value formats: a claim is the owner id (a UUID); an accepted event is
// `a:<fingerprint, 16 chars>:<l|t><receivedAt>,<partition>,<offset>,<gameServerId>,<userId>` with
// the numbers in base 36 (userId last: it may hold commas); the bare `a` written by gateways
// before this format still reads as accepted, without a record (no conflict check, no status).
//
// Marking events accepted also counts them per minute of receipt (shared/src/accepted-counts.ts),
// in the same script: the durable count the loss audit compares the topic and the archive with.
import { hash } from 'node:crypto';
import {
  ACCEPTED_COUNTS_RETENTION_SEC,
  acceptedBucketOf,
  acceptedCountKey,
} from '@tradewatch/shared/accepted-counts';
import type { GameEvent } from '@tradewatch/shared/events';
import type { AcceptedLedger, AcceptedRecord, ClaimRequest, ClaimResult, IngestMode } from './ports.ts';
import { redisUnavailable, type Redis } from './redis.ts';

const FINGERPRINT_CHARS = 16;

/**
 * A digest of everything that makes an event this event (all its normalised fields and the game
 * server that sent it; not receivedAt, which differs per attempt): equal for an exact retry,
 * whether ts was sent as text or epoch ms, different when any field differs. 96 bits of SHA-256:
 * it guards against mistakes, not against a client forging its own events' fingerprints.
 */
export const eventFingerprint = (ev: GameEvent): string => {
  const trade = ev.type === 'trade' ? ev : undefined;
  const content = JSON.stringify([
    ev.eventId,
    ev.type,
    ev.userId,
    ev.ts,
    ev.ip ?? null,
    trade?.amount ?? null,
    trade?.currency ?? null,
    trade?.itemId ?? null,
    trade?.counterpartyId ?? null,
    ev.gameServerId,
  ]);
  return hash('sha256', content, 'base64url').slice(0, FINGERPRINT_CHARS);
};

// KEYS: one per eventId; ARGV[1] owner, ARGV[2] claim TTL ms, ARGV[2 + i] fingerprint of KEYS[i].
// Returns per key 0 claimed, 1 accepted, 2 pending, 3 conflict.
const CLAIM = `
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 0
  elseif v == 'a' then
    out[i] = 1
  elseif string.sub(v, 1, 2) == 'a:' then
    if string.sub(v, 3, ${2 + FINGERPRINT_CHARS}) == ARGV[i + 2] then out[i] = 1 else out[i] = 3 end
  elseif v == ARGV[1] then
    out[i] = 0
  else
    out[i] = 2
  end
end
return out`;

// KEYS: one per eventId; ARGV[1] owner. Deletes only the claims this owner still holds.
const RELEASE = `
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0`;

// KEYS: one per eventId; ARGV[1] owner, ARGV[2] TTL ms. Extends only the claims this owner holds.
const EXTEND = `
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) end
end
return 0`;

// KEYS: one per eventId (n of them), then one per minute counted; ARGV[1] window s, ARGV[2] n,
// ARGV[3] retention s of the counts, ARGV[3 + i] the record of KEYS[i] for i <= n, the increment
// of KEYS[i] for i > n. One command per request.
const MARK = `
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('SET', KEYS[i], ARGV[i + 3], 'EX', ARGV[1]) end
for i = n + 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[i + 3])
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 0`;

// KEYS[1] mark key; ARGV[1] mark, ARGV[2] window s. Keeps the first mark and returns the kept one.
const KEEP_MARK = `
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
return redis.call('GET', KEYS[1])`;

const RESULTS: readonly ClaimResult[] = ['claimed', 'accepted', 'pending', 'conflict'];

interface LedgerCommands {
  twClaim(...args: (string | number)[]): Promise<number[]>;
  twRelease(...args: string[]): Promise<unknown>;
  twExtend(...args: (string | number)[]): Promise<unknown>;
  twMark(...args: (string | number)[]): Promise<unknown>;
  twKeepMark(key: string, mark: number, windowSec: number): Promise<string | null>;
}

const encodeRecord = (r: AcceptedRecord): string =>
  `a:${r.fingerprint}:${r.type === 'login' ? 'l' : 't'}${r.receivedAt.toString(36)},${r.partition.toString(36)},` +
  `${r.offset.toString(36)},${r.gameServerId},${r.userId}`;

const RECORD = /^a:([A-Za-z0-9_-]{16}):([lt])([0-9a-z]+),([0-9a-z]+),([0-9a-z]+),([^,]+),(.+)$/s;

const decodeRecord = (eventId: string, value: string): AcceptedRecord | undefined => {
  const m = RECORD.exec(value);
  if (m === null) return undefined;
  return {
    eventId,
    fingerprint: m[1]!,
    gameServerId: m[6]!,
    type: m[2] === 'l' ? 'login' : 'trade',
    userId: m[7]!,
    receivedAt: parseInt(m[3]!, 36),
    partition: parseInt(m[4]!, 36),
    offset: parseInt(m[5]!, 36),
  };
};

export class RedisAcceptedLedger implements AcceptedLedger {
  private readonly redis: Redis & LedgerCommands;
  private readonly windowSec: number;
  private readonly prefixes: Readonly<Record<IngestMode, string>>;
  private readonly markPrefixes: Readonly<Record<IngestMode, string>>;
  private readonly keyPrefix: string;
  private readonly countsRetentionSec: number;

  constructor(
    redis: Redis,
    windowSec: number,
    keyPrefix: string,
    countsRetentionSec = ACCEPTED_COUNTS_RETENTION_SEC,
  ) {
    redis.defineCommand('twClaim', { lua: CLAIM });
    redis.defineCommand('twRelease', { lua: RELEASE });
    redis.defineCommand('twExtend', { lua: EXTEND });
    redis.defineCommand('twMark', { lua: MARK });
    redis.defineCommand('twKeepMark', { lua: KEEP_MARK, numberOfKeys: 1 });
    this.redis = redis as Redis & LedgerCommands;
    this.windowSec = windowSec;
    this.keyPrefix = keyPrefix;
    this.countsRetentionSec = countsRetentionSec;
    this.prefixes = { live: `${keyPrefix}event:`, sandbox: `${keyPrefix}sandbox:event:` };
    this.markPrefixes = { live: `${keyPrefix}mark:`, sandbox: `${keyPrefix}sandbox:mark:` };
  }

  private keys(mode: IngestMode, eventIds: readonly string[]): string[] {
    const prefix = this.prefixes[mode];
    return eventIds.map((id) => prefix + id);
  }

  async claim(
    mode: IngestMode,
    requests: readonly ClaimRequest[],
    owner: string,
    ttlMs: number,
  ): Promise<ClaimResult[]> {
    if (requests.length === 0) return [];
    const keys = this.keys(
      mode,
      requests.map((r) => r.eventId),
    );
    try {
      const codes = await this.redis.twClaim(
        keys.length,
        ...keys,
        owner,
        ttlMs,
        ...requests.map((r) => r.fingerprint),
      );
      return codes.map((c) => RESULTS[c] ?? 'pending');
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async markAccepted(mode: IngestMode, records: readonly AcceptedRecord[]): Promise<void> {
    if (records.length === 0) return;
    const keys = this.keys(
      mode,
      records.map((r) => r.eventId),
    );
    const counts = new Map<number, number>();
    for (const r of records) {
      const bucket = acceptedBucketOf(r.receivedAt);
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    const countKeys = [...counts.keys()].map((b) => acceptedCountKey(this.keyPrefix, mode, b));
    try {
      await this.redis.twMark(
        keys.length + countKeys.length,
        ...keys,
        ...countKeys,
        this.windowSec,
        keys.length,
        this.countsRetentionSec,
        ...records.map(encodeRecord),
        ...counts.values(),
      );
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async release(mode: IngestMode, eventIds: readonly string[], owner: string): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.redis.twRelease(String(eventIds.length), ...this.keys(mode, eventIds), owner);
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async extend(mode: IngestMode, eventIds: readonly string[], owner: string, ttlMs: number): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.redis.twExtend(eventIds.length, ...this.keys(mode, eventIds), owner, ttlMs);
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async lookup(mode: IngestMode, eventId: string): Promise<AcceptedRecord | undefined> {
    let value: string | null;
    try {
      value = await this.redis.get(this.prefixes[mode] + eventId);
    } catch (err) {
      throw redisUnavailable(err);
    }
    return value === null ? undefined : decodeRecord(eventId, value);
  }

  async alertsMarkOnce(mode: IngestMode, eventId: string, take: () => Promise<number>): Promise<number> {
    const key = this.markPrefixes[mode] + eventId;
    let kept: string | null;
    try {
      kept = await this.redis.get(key);
    } catch (err) {
      throw redisUnavailable(err);
    }
    if (kept !== null) return Number(kept);
    const mark = await take();
    try {
      kept = await this.redis.twKeepMark(key, mark, this.windowSec);
    } catch (err) {
      throw redisUnavailable(err);
    }
    return kept === null ? mark : Number(kept);
  }
}
