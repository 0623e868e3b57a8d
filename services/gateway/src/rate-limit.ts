// Events-per-second limit per game server, shared by every gateway instance through Redis: one
// counter per server that lives one second from its first event. A request that does not fit
// takes nothing from the budget, so one large batch cannot lock out the smaller ones.
import type { RateDecision, RateGate } from './ports.ts';
import { redisUnavailable, type Redis } from './redis.ts';

// KEYS[1] counter; ARGV[1] events, ARGV[2] limit. Returns {allowed 0|1, ms until the window ends}.
const TAKE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local k = tonumber(ARGV[1])
if n + k > tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 1000 end
  return {0, ttl}
end
if n == 0 then
  redis.call('SET', KEYS[1], k, 'PX', 1000)
else
  redis.call('INCRBY', KEYS[1], k)
end
return {1, 0}`;

export class RedisRateGate implements RateGate {
  private readonly redis: Redis;
  private readonly limit: number;
  private readonly prefix: string;

  constructor(redis: Redis, eventsPerSec: number, keyPrefix: string) {
    this.redis = redis;
    this.limit = eventsPerSec;
    this.prefix = `${keyPrefix}rate:`;
    redis.defineCommand('twRateTake', { numberOfKeys: 1, lua: TAKE });
  }

  async take(gameServerId: string, events: number): Promise<RateDecision> {
    let reply: [number, number];
    try {
      reply = (await (this.redis as unknown as RateCommands).twRateTake(
        this.prefix + gameServerId,
        events,
        this.limit,
      )) as [number, number];
    } catch (err) {
      throw redisUnavailable(err);
    }
    return { allowed: reply[0] === 1, retryAfterSec: Math.max(1, Math.ceil(reply[1] / 1000)) };
  }
}

interface RateCommands {
  twRateTake(key: string, events: number, limit: number): Promise<unknown>;
}
