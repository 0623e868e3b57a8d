// Remembers which eventIds were accepted (published and acknowledged by Kafka) for a window,
// so that a retried request publishes only what was not accepted yet.
//
// Crash windows and what covers them:
//   - crash or timeout before Kafka acknowledged: nothing is marked, the client retries (it got
//     no 202) and the events are published then;
//   - crash after Kafka acknowledged but before the ids were marked here: the retry publishes
//     the events a second time. The processor ignores an eventId already in the user's history
//     and the archive keeps one row per eventId, so the duplicate record has no effect;
//   - a retry after the 202: the ids are marked, nothing is published again.
import type { Redis } from 'ioredis';

const KEY_PREFIX = 'tw:accepted:';

export class IdempotencyStore {
  private readonly redis: Redis;
  private readonly windowSec: number;

  constructor(redis: Redis, windowSec: number) {
    this.redis = redis;
    this.windowSec = windowSec;
  }

  /** For each id, whether it was already accepted. */
  async accepted(eventIds: readonly string[]): Promise<boolean[]> {
    if (eventIds.length === 0) return [];
    const values = await this.redis.mget(eventIds.map((id) => KEY_PREFIX + id));
    return values.map((v) => v !== null);
  }

  async markAccepted(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of eventIds) pipeline.set(KEY_PREFIX + id, '1', 'EX', this.windowSec);
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0];
  }
}
