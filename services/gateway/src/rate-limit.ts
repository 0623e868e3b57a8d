// Events-per-second limit per game server, shared by every gateway instance through Redis:
// a counter per server and one-second window, incremented atomically by the batch size.
import type { Redis } from 'ioredis';

const SCRIPT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], 2000) end
return n`;

export interface RateDecision {
  allowed: boolean;
  retryAfterSec: number;
}

export class RateLimiter {
  private readonly redis: Redis;
  private readonly limit: number;

  constructor(redis: Redis, eventsPerSec: number) {
    this.redis = redis;
    this.limit = eventsPerSec;
  }

  async take(gameServerId: string, events: number, now = Date.now()): Promise<RateDecision> {
    const window = Math.floor(now / 1000);
    const used = Number(await this.redis.eval(SCRIPT, 1, `tw:rate:${gameServerId}:${window}`, events));
    return { allowed: used <= this.limit, retryAfterSec: 1 };
  }
}
