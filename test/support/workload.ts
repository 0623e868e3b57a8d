// Generated workloads for tests and benchmarks: realistic traffic from the simulator's
// generator, normalised as the gateway would publish it, with retried (duplicate) events mixed in.
import type { GameEvent } from '@tradewatch/shared/events';
import { TrafficGenerator, seededRandom } from '../../services/simulator/src/traffic-generator.ts';

export interface WorkloadOptions {
  users: number;
  events: number;
  seed?: number;
  takeoverRate?: number;
  /** Share of events that are re-sent copies of a recent event (same eventId). */
  duplicateRate?: number;
}

export const generateWorkload = (o: WorkloadOptions): GameEvent[] => {
  const seed = o.seed ?? 7;
  const gen = new TrafficGenerator({
    users: o.users,
    seed,
    takeoverRate: o.takeoverRate ?? 0.03,
    runId: `w${seed}-${Date.now().toString(36)}`,
  });
  const rnd = seededRandom(seed + 1);
  const out: GameEvent[] = [];
  const t0 = Date.now() - 3600_000;
  while (out.length < o.events) {
    if (out.length > 10 && rnd() < (o.duplicateRate ?? 0.02)) {
      out.push(out[out.length - 1 - Math.floor(rnd() * Math.min(out.length - 1, 50))]!);
      continue;
    }
    const e = gen.next(t0 + out.length);
    const base = {
      eventId: e.eventId,
      userId: e.userId,
      ts: e.ts,
      gameServerId: 'gs-test',
      receivedAt: e.ts,
    };
    out.push(
      e.type === 'login'
        ? { ...base, type: 'login', ip: e.ip! }
        : {
            ...base,
            type: 'trade',
            amount: e.amount!,
            currency: e.currency ?? 'gold',
            ...(e.itemId ? { itemId: e.itemId } : {}),
          },
    );
  }
  return out;
};
