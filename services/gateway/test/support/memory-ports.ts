// In-memory implementations of the gateway's own ports (ports.ts), with the knobs the unit tests
// turn: a publisher that can fail or be held, a ledger with claim expiry on a settable clock, a
// rate gate with a fixed budget. They stand in for the Redis and Kafka adapters, not for Kafka
// or Redis themselves.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { GameEvent } from '@tradewatch/shared/events';
import type { Logger } from '@tradewatch/shared/logger';
import type { FastifyInstance } from 'fastify';
import { buildApp, type GatewayDeps } from '../../src/app.ts';
import { parseTokens } from '../../src/auth.ts';
import type { AcceptedLedger, ClaimResult, EventPublisher, RateDecision, RateGate } from '../../src/ports.ts';

export class ManualClock {
  ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  now = (): number => this.ms;
}

/** Resolves when told to, so a test can hold a publish in flight. */
export interface Held {
  release(): void;
  fail(err: unknown): void;
}

export class MemoryPublisher implements EventPublisher {
  readonly published: GameEvent[] = [];
  calls = 0;
  /** When set, publish rejects with it. */
  failWith: Error | undefined = undefined;
  /** When true, each publish waits for release()/fail() on the entry pushed to `held`. */
  hold = false;
  readonly held: Held[] = [];

  async publish(events: readonly GameEvent[]): Promise<void> {
    this.calls += 1;
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    if (this.hold) {
      await new Promise<void>((resolve, reject) => this.held.push({ release: resolve, fail: reject }));
    }
    this.published.push(...events);
  }
}

export class MemoryLedger implements AcceptedLedger {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly clock: ManualClock;
  private readonly windowMs: number;
  failWith: Error | undefined = undefined;
  failMarkWith: Error | undefined = undefined;
  constructor(clock: ManualClock, windowMs = 86_400_000) {
    this.clock = clock;
    this.windowMs = windowMs;
  }

  private get(id: string): string | undefined {
    const e = this.entries.get(id);
    if (e === undefined || e.expiresAt <= this.clock.ms) return undefined;
    return e.value;
  }

  isAccepted(id: string): boolean {
    return this.get(id) === 'a';
  }

  claim(ids: readonly string[], owner: string, ttlMs: number): Promise<ClaimResult[]> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve(
      ids.map((id) => {
        const v = this.get(id);
        if (v === undefined) {
          this.entries.set(id, { value: owner, expiresAt: this.clock.ms + ttlMs });
          return 'claimed';
        }
        return v === 'a' ? 'accepted' : v === owner ? 'claimed' : 'pending';
      }),
    );
  }

  markAccepted(ids: readonly string[]): Promise<void> {
    const err = this.failMarkWith ?? this.failWith;
    if (err !== undefined) return Promise.reject(err);
    for (const id of ids) this.entries.set(id, { value: 'a', expiresAt: this.clock.ms + this.windowMs });
    return Promise.resolve();
  }

  release(ids: readonly string[], owner: string): Promise<void> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    for (const id of ids) if (this.get(id) === owner) this.entries.delete(id);
    return Promise.resolve();
  }
}

export class MemoryRateGate implements RateGate {
  limit = Number.POSITIVE_INFINITY;
  used = new Map<string, number>();
  failWith: Error | undefined = undefined;
  take(gameServerId: string, events: number): Promise<RateDecision> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const n = this.used.get(gameServerId) ?? 0;
    if (n + events > this.limit) return Promise.resolve({ allowed: false, retryAfterSec: 1 });
    this.used.set(gameServerId, n + events);
    return Promise.resolve({ allowed: true, retryAfterSec: 0 });
  }
}

/** A logger that keeps every line it writes, at every level. */
export const captureLogger = (): { logger: Logger; lines: string[] } => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), lines };
};

export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
export const TOKEN = 'tok-alpha-0123456789';
export const TOKEN_B = 'tok-beta-9876543210';
export const AUTH = { authorization: `Bearer ${TOKEN}` };
export const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' };

export interface TestGateway {
  app: FastifyInstance;
  clock: ManualClock;
  publisher: MemoryPublisher;
  ledger: MemoryLedger;
  rateGate: MemoryRateGate;
  lines: string[];
}

export const buildTestApp = async (overrides: Partial<GatewayDeps> = {}): Promise<TestGateway> => {
  const clock = new ManualClock(NOW);
  const publisher = new MemoryPublisher();
  const ledger = new MemoryLedger(clock);
  const rateGate = new MemoryRateGate();
  const { logger, lines } = captureLogger();
  const app = await buildApp({
    logger,
    tokens: parseTokens(`gs-alpha:${TOKEN},gs-beta:${TOKEN_B}`),
    publisher,
    ledger,
    rateGate,
    readiness: [],
    maxBodyBytes: 1024 * 1024,
    maxEventsPerRequest: 1000,
    publishTimeoutMs: 200,
    claimTtlMs: 30_000,
    maxPendingEvents: 100_000,
    now: clock.now,
    ...overrides,
  });
  return { app, clock, publisher, ledger, rateGate, lines };
};

export const login = (i: number | string, extra: Record<string, unknown> = {}) => ({
  eventId: `login-${i}`,
  type: 'login',
  userId: 'user-1',
  ts: NOW,
  ip: '203.0.113.7',
  ...extra,
});

export const trade = (i: number | string, extra: Record<string, unknown> = {}) => ({
  eventId: `trade-${i}`,
  type: 'trade',
  userId: 'user-1',
  ts: NOW,
  amount: 10,
  ...extra,
});

/** Waits until `cond` holds, polling, or fails after `ms`. */
export const waitFor = async (
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
