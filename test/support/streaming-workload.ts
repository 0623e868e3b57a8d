// A streaming workload for benchmarks with up to millions of players: events are generated one at
// a time from a few bytes of state per player (no per-player objects), and every player can be
// given a full synthetic history (the state a long-running processor would hold) to seed from.
// Traffic: players log in from one of their 1–3 home IPs and trade around a personal typical
// amount; a share of logins are takeovers (a never-seen IP) followed within a few events by a
// trade 5–20 × the typical amount; a share of events are re-sent copies of a recent one.
// Deterministic for a given seed. Pure: no I/O.
import type { GameEvent } from '@tradewatch/shared/events';
import { seededRandom } from '../../services/simulator/src/traffic-generator.ts';

export interface StreamingWorkloadOptions {
  users: number;
  /** Decides the players (home IPs, typical amounts, histories). */
  seed?: number;
  /** Decides the event stream; defaults to `seed`. Two streams over the same players differ here. */
  streamSeed?: number;
  /** Unique per run, so that event ids never repeat across runs on the same topics. */
  runId: string;
  /** Share of events that are logins (default 0.12). */
  loginRate?: number;
  /** Share of logins that are account takeovers (default 0.02). */
  takeoverRate?: number;
  /** Share of events that are re-sent copies of a recent event, same eventId (default 0.01). */
  duplicateRate?: number;
  gameServerId?: string;
}

/** A player's synthetic history, oldest first, as the detection rule would have left it. */
export interface SyntheticHistory {
  sessionIp: string;
  pastIps: string[];
  amounts: number[];
}

/** A 32-bit integer hash (murmur3 finaliser) of a player index and a salt. */
const mix = (i: number, salt: number): number => {
  let h = Math.imul(i ^ Math.imul(salt, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

export class StreamingWorkload {
  readonly users: number;
  private readonly seed: number;
  private readonly runId: string;
  private readonly loginRate: number;
  private readonly takeoverRate: number;
  private readonly duplicateRate: number;
  private readonly gameServerId: string;
  private readonly rnd: () => number;
  private seq = 0;
  /** Players whose takeover login was sent and whose large trade is due. */
  private readonly dueTrades: number[] = [];
  private readonly recent: GameEvent[] = [];
  takeovers = 0;
  duplicates = 0;

  constructor(o: StreamingWorkloadOptions) {
    this.users = o.users;
    this.seed = o.seed ?? 7;
    this.runId = o.runId;
    this.loginRate = o.loginRate ?? 0.12;
    this.takeoverRate = o.takeoverRate ?? 0.02;
    this.duplicateRate = o.duplicateRate ?? 0.01;
    this.gameServerId = o.gameServerId ?? 'gs-bench';
    this.rnd = seededRandom(o.streamSeed ?? this.seed);
  }

  userId(i: number): string {
    return `player-${i.toString().padStart(7, '0')}`;
  }

  homeIp(i: number, k: number): string {
    const h = mix(i, this.seed * 31 + k + 1);
    return `10.${(h >>> 16) & 0xff}.${(h >>> 8) & 0xff}.${(h & 0xff) | 1}`;
  }

  homeIpCount(i: number): number {
    return 1 + (mix(i, this.seed + 101) % 3);
  }

  /** The player's typical trade amount, 7.39–1097 gold. */
  typical(i: number): number {
    return Math.round(Math.exp(2 + (mix(i, this.seed + 202) / 2 ** 32) * 5) * 100) / 100;
  }

  private amountAround(typical: number, rnd: () => number): number {
    const g = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    return Math.max(0.01, Math.round(typical * Math.exp(0.35 * g) * 100) / 100);
  }

  /** A full history for player i: a session, `history` past sessions and `history` trades. */
  historyOf(i: number, history: number): SyntheticHistory {
    const rnd = seededRandom(mix(i, this.seed + 303));
    const ips = this.homeIpCount(i);
    const typical = this.typical(i);
    const pick = () => this.homeIp(i, Math.floor(rnd() * ips));
    return {
      sessionIp: pick(),
      pastIps: Array.from({ length: history }, pick),
      amounts: Array.from({ length: history }, () => this.amountAround(typical, rnd)),
    };
  }

  /** The next event, stamped with `now` as its time (ts and receivedAt). */
  next(now: number): GameEvent {
    if (this.recent.length >= 64 && this.rnd() < this.duplicateRate) {
      this.duplicates++;
      return this.recent[Math.floor(this.rnd() * this.recent.length)]!;
    }
    const eventId = `${this.runId}-${(this.seq++).toString(36)}`;
    let ev: GameEvent;
    if (this.dueTrades.length > 0 && this.rnd() < 0.2) {
      const i = this.dueTrades.shift()!;
      ev = this.trade(eventId, i, now, this.typical(i) * (5 + this.rnd() * 15));
    } else {
      const i = Math.floor(this.rnd() * this.users);
      if (this.rnd() < this.loginRate) {
        let ip: string;
        if (this.rnd() < this.takeoverRate) {
          this.takeovers++;
          this.dueTrades.push(i);
          const b = () => Math.floor(this.rnd() * 254) + 1;
          ip = `203.${b()}.${b()}.${b()}`;
        } else {
          ip = this.homeIp(i, Math.floor(this.rnd() * this.homeIpCount(i)));
        }
        ev = {
          eventId,
          type: 'login',
          userId: this.userId(i),
          ts: now,
          ip,
          gameServerId: this.gameServerId,
          receivedAt: now,
        };
      } else {
        ev = this.trade(eventId, i, now, this.amountAround(this.typical(i), this.rnd));
      }
    }
    if (this.recent.length < 64) this.recent.push(ev);
    else this.recent[this.seq & 63] = ev;
    return ev;
  }

  private trade(eventId: string, i: number, now: number, amount: number): GameEvent {
    return {
      eventId,
      type: 'trade',
      userId: this.userId(i),
      ts: now,
      amount: Math.round(amount * 100) / 100,
      currency: 'gold',
      itemId: `item-${Math.floor(this.rnd() * 500)}`,
      gameServerId: this.gameServerId,
      receivedAt: now,
    };
  }
}
