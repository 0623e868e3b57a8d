// The accepted-events ledger in Redis: for each eventId, either a claim by the request that is
// publishing it (value = that request's owner id, expiring after the claim TTL) or the mark
// "accepted" (value "a", expiring after the idempotency window, 24 h by default). Keys are
// shared by every gateway instance, so retries may land on any of them.
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
//      the late publish fails, the claim is released and the retry publishes.
//   5. Kafka acknowledged, the gateway crashed (or Redis failed) before marking the ids accepted:
//      the events are in Kafka and the client got no 202 (or, when only Redis failed, a 202). The
//      claim expires and a retry publishes a second copy. The gateway cannot close this window on
//      its own (it would need one atomic commit across Kafka and Redis); it is closed downstream:
//      the processor ignores an eventId it has already applied (SPEC §4) and the archive keeps one
//      row per eventId. The same holds when one produce request is written to some partitions
//      and fails on others, when Redis loses recent writes (restart without fsync, failover), and
//      for a retry after the idempotency window.
//   6. Marked accepted, then a crash or a lost connection before the 202 reached the client: the
//      retry finds every id accepted and is answered 202 with duplicates, publishing nothing.
import type { AcceptedLedger, ClaimResult } from './ports.ts';
import { redisUnavailable, type Redis } from './redis.ts';

const ACCEPTED = 'a';

// KEYS: one per eventId; ARGV[1] owner, ARGV[2] claim TTL ms. Returns 0 claimed, 1 accepted, 2 pending.
const CLAIM = `
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 0
  elseif v == '${ACCEPTED}' then
    out[i] = 1
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

// KEYS: one per eventId; ARGV[1] window s. One command instead of one SET per id.
const MARK = `
for _, key in ipairs(KEYS) do redis.call('SET', key, '${ACCEPTED}', 'EX', ARGV[1]) end
return 0`;

const RESULTS: readonly ClaimResult[] = ['claimed', 'accepted', 'pending'];

interface LedgerCommands {
  twClaim(...args: (string | number)[]): Promise<number[]>;
  twRelease(...args: string[]): Promise<unknown>;
  twMark(...args: (string | number)[]): Promise<unknown>;
}

export class RedisAcceptedLedger implements AcceptedLedger {
  private readonly redis: Redis & LedgerCommands;
  private readonly windowSec: number;
  private readonly prefix: string;

  constructor(redis: Redis, windowSec: number, keyPrefix: string) {
    redis.defineCommand('twClaim', { lua: CLAIM });
    redis.defineCommand('twRelease', { lua: RELEASE });
    redis.defineCommand('twMark', { lua: MARK });
    this.redis = redis as Redis & LedgerCommands;
    this.windowSec = windowSec;
    this.prefix = `${keyPrefix}event:`;
  }

  private keys(eventIds: readonly string[]): string[] {
    return eventIds.map((id) => this.prefix + id);
  }

  async claim(eventIds: readonly string[], owner: string, ttlMs: number): Promise<ClaimResult[]> {
    if (eventIds.length === 0) return [];
    try {
      const codes = await this.redis.twClaim(eventIds.length, ...this.keys(eventIds), owner, ttlMs);
      return codes.map((c) => RESULTS[c] ?? 'pending');
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async markAccepted(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.redis.twMark(eventIds.length, ...this.keys(eventIds), this.windowSec);
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  async release(eventIds: readonly string[], owner: string): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.redis.twRelease(String(eventIds.length), ...this.keys(eventIds), owner);
    } catch (err) {
      throw redisUnavailable(err);
    }
  }
}
