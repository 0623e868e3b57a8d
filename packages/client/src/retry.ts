// How long to wait before sending a request again: exponential backoff with jitter (so that many
// game servers do not retry in step), never sooner than the gateway's Retry-After. Pure.

export interface RetryPolicy {
  /** The first backoff, ms (default 100). */
  initialDelayMs: number;
  /** The longest backoff, ms (default 5000). */
  maxDelayMs: number;
  /**
   * How long one batch is retried before its events fail with `retries_exhausted`, ms, counted
   * from its first attempt (default 120000). `Infinity`: until sent or the client is closed.
   */
  maxElapsedMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 5000,
  maxElapsedMs: 120_000,
});

/**
 * The wait before attempt `attempt + 1` (attempt 0 is the first retry): half of the exponential
 * backoff plus a random half of it ("equal jitter"), and at least `retryAfterMs` plus a random
 * tenth of it, so that clients told the same Retry-After do not come back at the same instant.
 */
export const retryDelay = (
  attempt: number,
  retryAfterMs: number | undefined,
  policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number => {
  const backoff = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  const jittered = backoff / 2 + random() * (backoff / 2);
  if (retryAfterMs === undefined) return Math.round(jittered);
  return Math.round(Math.max(jittered, retryAfterMs + random() * (retryAfterMs / 10)));
};
