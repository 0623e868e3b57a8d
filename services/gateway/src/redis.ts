// The gateway's Redis connection and the classification of its failures. Every command fails
// fast (no offline queue, bounded command time), and every failure is a retriable
// REDIS_UNAVAILABLE, which the API answers with 503 and Retry-After.
import { Redis } from 'ioredis';
import { TradewatchError } from '@tradewatch/shared/errors';
import type { Logger } from '@tradewatch/shared/logger';

export type { Redis };

export interface RedisOptions {
  url: string;
  logger: Logger;
  /** Bound on one command (and on connecting), ms. */
  commandTimeoutMs?: number;
}

export const createRedis = (opts: RedisOptions): Redis => {
  const log = opts.logger.child({ module: 'redis' });
  const timeout = opts.commandTimeoutMs ?? 2000;
  const redis = new Redis(opts.url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeout,
    commandTimeout: timeout,
    lazyConnect: true,
    // Commands of concurrent requests issued in one tick go out in one write (a request makes
    // three round trips: the rate counter, the claim, the accepted record).
    enableAutoPipelining: true,
    // Keep reconnecting while down, at most every 2 s: the instance recovers on its own.
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis unavailable');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis available again');
    down = false;
  });
  return redis;
};

export const redisUnavailable = (err: unknown): TradewatchError =>
  err instanceof TradewatchError
    ? err
    : new TradewatchError('REDIS_UNAVAILABLE', `redis: ${(err as Error).message ?? String(err)}`, {
        retriable: true,
        cause: err,
      });
