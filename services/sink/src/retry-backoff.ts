// Exponential backoff with jitter for retrying inserts while ClickHouse is down. Pure.
import type { RetryPolicy } from './config.ts';

/**
 * Delay before retry number `attempt` (1 = first retry): initial × 2^(attempt−1), capped, then
 * scaled by a random factor in [0.5, 1] so that partitions retrying together spread out.
 */
export const backoffDelay = (
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number => {
  const exp = policy.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  return Math.round(Math.min(policy.maxMs, exp) * (0.5 + 0.5 * random()));
};
