// Retrying and timeouts: how the adapter runs an operation again while it fails with a retriable
// error, the back-offs it hands the library (a short one keeps CONCURRENT_TRANSACTIONS after a
// commit from costing the library's default second), the request timeouts it asks for, and the
// one-line cause and counter with which the library's own retries are logged.
import { metrics, type Counter } from '@opentelemetry/api';
import { classifyKafkaError, walkErrors } from './errors.ts';

/**
 * Runs an operation again while it fails with a retriable error, up to a deadline: right after a
 * topic is created or a broker starts, requests briefly answer UNKNOWN_TOPIC_OR_PARTITION or
 * "coordinator loading".
 */
export const retrying = async <T>(what: string, fn: () => Promise<T>, deadlineMs = 30000): Promise<T> => {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = classifyKafkaError(err, what);
      if (!e.retriable || Date.now() > deadline) throw e;
      await sleep(Math.min(100 * 2 ** attempt, 2000));
    }
  }
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The library has two timeouts: `timeout`, what a broker is asked to wait (for the in-sync
 * replicas of a produce, say), and `requestTimeout`, how long the client waits for any answer
 * before it drops the connection and retries with fresh metadata. Left at its 30 s default, a
 * request to a broker that froze (SIGSTOP, a stalled disk) hangs 30 s although leadership moved
 * after the broker's session timeout; so the client waits as long as the broker is asked to,
 * plus a second for the answer to arrive.
 */
export const requestTimeouts = (ms: number) => ({ timeout: ms, requestTimeout: ms + 1000 });

/**
 * The error each client's last retry was for. The library hands it to the retry delay, not to
 * the retry event that follows at once; the delays below note it for watched() to log.
 */
export const lastRetryError = new WeakMap<object, unknown>();

/** What a retried error says, in a line: the distinct messages of the errors it aggregates. */
export const retryCause = (error: unknown): string => {
  const leaves: string[] = [];
  walkErrors(error, (e) => {
    if ((e.errors?.length ?? 0) > 0) return;
    if (typeof e.message === 'string' && e.message !== '' && !leaves.includes(e.message))
      leaves.push(e.message);
  });
  const line = leaves.join('; ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
};

const noting =
  (delay: (attempt: number) => number) =>
  (client: unknown, _op: string, attempt: number, _retries?: number, error?: unknown): number => {
    if (client !== null && typeof client === 'object') lastRetryError.set(client, error);
    return delay(attempt);
  };

/** 100 ms doubling to 5 s: what a producer that outlasts a broker restart waits between retries. */
export const slowRetryDelay = noting((attempt) => Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000));

/** 10, 20, 40 … 640 ms, then 1 s: about 20 s over 25 retries. */
export const transactionRetryDelay = noting((attempt) => Math.min(10 * 2 ** Math.max(0, attempt - 1), 1000));

/** Backs off 10, 20, 40 … 500 ms: CONCURRENT_TRANSACTIONS clears within milliseconds. */
export const retryDelay = noting((attempt) => Math.min(10 * 2 ** Math.max(0, attempt - 1), 500));

// Created on the first retry, so that it belongs to the meter provider the service registered
// at start-up (the API hands out a no-op meter before that).
let retryCount: Counter | undefined;
export const retryCounter = (): Counter =>
  (retryCount ??= metrics.getMeter('tradewatch-kafka').createCounter('tradewatch.kafka.client.retries', {
    description: 'Kafka requests the client retried, by operation',
  }));
