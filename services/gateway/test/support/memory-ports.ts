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
import { partitionForKey } from '@tradewatch/shared/partitioner';
import type {
  AcceptedLedger,
  AcceptedRecord,
  ArchiveLookup,
  ClaimRequest,
  ClaimResult,
  EventPosition,
  EventPublisher,
  IngestMode,
  PipelineProgress,
  RateDecision,
  RateGate,
} from '../../src/ports.ts';

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
  /** What was published with live tokens, in order. */
  readonly published: GameEvent[] = [];
  /** What was published with sandbox tokens, in order. */
  readonly sandbox: GameEvent[] = [];
  calls = 0;
  /** When set, publish rejects with it. */
  failWith: Error | undefined = undefined;
  /** When true, each publish waits for release()/fail() on the entry pushed to `held`. */
  hold = false;
  readonly held: Held[] = [];
  private readonly next = new Map<string, number>();
  static readonly PARTITIONS = 3;

  topic(mode: IngestMode): string {
    return mode === 'live' ? 'game-events' : 'tradewatch.sandbox.game-events';
  }

  async publish(events: readonly GameEvent[], mode: IngestMode): Promise<EventPosition[]> {
    this.calls += 1;
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    if (this.hold) {
      await new Promise<void>((resolve, reject) => this.held.push({ release: resolve, fail: reject }));
    }
    (mode === 'live' ? this.published : this.sandbox).push(...events);
    return events.map((ev) => {
      const partition = partitionForKey(ev.userId, MemoryPublisher.PARTITIONS);
      const key = `${mode}/${partition}`;
      const offset = this.next.get(key) ?? 0;
      this.next.set(key, offset + 1);
      return { partition, offset };
    });
  }
}

type LedgerEntry = { claim: string } | { record: AcceptedRecord | undefined };

export class MemoryLedger implements AcceptedLedger {
  private readonly entries = new Map<string, { value: LedgerEntry; expiresAt: number }>();
  private readonly marks = new Map<string, number>();
  private readonly clock: ManualClock;
  private readonly windowMs: number;
  failWith: Error | undefined = undefined;
  failMarkWith: Error | undefined = undefined;
  constructor(clock: ManualClock, windowMs = 86_400_000) {
    this.clock = clock;
    this.windowMs = windowMs;
  }

  private get(mode: IngestMode, id: string): LedgerEntry | undefined {
    const e = this.entries.get(`${mode}/${id}`);
    if (e === undefined || e.expiresAt <= this.clock.ms) return undefined;
    return e.value;
  }

  isAccepted(id: string, mode: IngestMode = 'live'): boolean {
    const v = this.get(mode, id);
    return v !== undefined && 'record' in v;
  }

  /** An id accepted the way gateways did before the ledger kept records (the bare "a"). */
  acceptWithoutRecord(id: string, mode: IngestMode = 'live'): void {
    this.entries.set(`${mode}/${id}`, {
      value: { record: undefined },
      expiresAt: this.clock.ms + this.windowMs,
    });
  }

  claim(
    mode: IngestMode,
    requests: readonly ClaimRequest[],
    owner: string,
    ttlMs: number,
  ): Promise<ClaimResult[]> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve(
      requests.map(({ eventId, fingerprint }): ClaimResult => {
        const v = this.get(mode, eventId);
        if (v === undefined) {
          this.entries.set(`${mode}/${eventId}`, {
            value: { claim: owner },
            expiresAt: this.clock.ms + ttlMs,
          });
          return 'claimed';
        }
        if ('record' in v)
          return v.record === undefined || v.record.fingerprint === fingerprint ? 'accepted' : 'conflict';
        return v.claim === owner ? 'claimed' : 'pending';
      }),
    );
  }

  markAccepted(mode: IngestMode, records: readonly AcceptedRecord[]): Promise<void> {
    const err = this.failMarkWith ?? this.failWith;
    if (err !== undefined) return Promise.reject(err);
    for (const record of records) {
      this.entries.set(`${mode}/${record.eventId}`, {
        value: { record },
        expiresAt: this.clock.ms + this.windowMs,
      });
    }
    return Promise.resolve();
  }

  release(mode: IngestMode, ids: readonly string[], owner: string): Promise<void> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    for (const id of ids) {
      const v = this.get(mode, id);
      if (v !== undefined && 'claim' in v && v.claim === owner) this.entries.delete(`${mode}/${id}`);
    }
    return Promise.resolve();
  }

  /** Calls of extend, to wait on. */
  extended = 0;

  extend(mode: IngestMode, ids: readonly string[], owner: string, ttlMs: number): Promise<void> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    this.extended++;
    for (const id of ids) {
      const e = this.entries.get(`${mode}/${id}`);
      if (e !== undefined && e.expiresAt > this.clock.ms && 'claim' in e.value && e.value.claim === owner) {
        e.expiresAt = this.clock.ms + ttlMs;
      }
    }
    return Promise.resolve();
  }

  lookup(mode: IngestMode, eventId: string): Promise<AcceptedRecord | undefined> {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const v = this.get(mode, eventId);
    return Promise.resolve(v !== undefined && 'record' in v ? v.record : undefined);
  }

  async alertsMarkOnce(mode: IngestMode, eventId: string, take: () => Promise<number>): Promise<number> {
    const key = `${mode}/${eventId}`;
    const kept = this.marks.get(key);
    if (kept !== undefined) return kept;
    const mark = await take();
    if (!this.marks.has(key)) this.marks.set(key, mark);
    return this.marks.get(key)!;
  }
}

/**
 * The pipeline as the status endpoint sees it, set by the test: the processors' committed offset
 * per partition, each user's alerts partition (its last stable offset and the sink's committed
 * offset there), and the archive's rows.
 */
export class MemoryPipeline implements PipelineProgress, ArchiveLookup {
  readonly processors = new Map<number, number>();
  alertsEnd = 0;
  sinkAlertsCommitted: number | null = null;
  readonly archivedEvents = new Map<string, number>();
  readonly archivedAlerts = new Map<string, number>();
  kafkaFailWith: Error | undefined = undefined;
  clickhouseFailWith: Error | undefined = undefined;

  processorsCommitted(partition: number): Promise<number | null> {
    if (this.kafkaFailWith !== undefined) return Promise.reject(this.kafkaFailWith);
    return Promise.resolve(this.processors.get(partition) ?? null);
  }
  alertsMark(_userId: string): Promise<number> {
    if (this.kafkaFailWith !== undefined) return Promise.reject(this.kafkaFailWith);
    return Promise.resolve(this.alertsEnd);
  }
  alertsArchivedPast(_userId: string, mark: number): Promise<boolean> {
    if (this.kafkaFailWith !== undefined) return Promise.reject(this.kafkaFailWith);
    return Promise.resolve(mark <= 1 || (this.sinkAlertsCommitted ?? -1) >= mark - 1);
  }
  eventArchivedAt(_userId: string, eventId: string): Promise<number | undefined> {
    if (this.clickhouseFailWith !== undefined) return Promise.reject(this.clickhouseFailWith);
    return Promise.resolve(this.archivedEvents.get(eventId));
  }
  alert(_userId: string, alertId: string): Promise<{ alertId: string; archivedAt: number } | undefined> {
    if (this.clickhouseFailWith !== undefined) return Promise.reject(this.clickhouseFailWith);
    const at = this.archivedAlerts.get(alertId);
    return Promise.resolve(at === undefined ? undefined : { alertId, archivedAt: at });
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
/** A sandbox token of gs-alpha. */
export const SANDBOX_TOKEN = 'tok-alpha-sandbox-42';
export const AUTH = { authorization: `Bearer ${TOKEN}` };
export const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' };

export interface TestGateway {
  app: FastifyInstance;
  clock: ManualClock;
  publisher: MemoryPublisher;
  ledger: MemoryLedger;
  rateGate: MemoryRateGate;
  pipeline: MemoryPipeline;
  lines: string[];
}

export const buildTestApp = async (overrides: Partial<GatewayDeps> = {}): Promise<TestGateway> => {
  const clock = new ManualClock(NOW);
  const publisher = new MemoryPublisher();
  const ledger = new MemoryLedger(clock);
  const rateGate = new MemoryRateGate();
  const pipeline = new MemoryPipeline();
  const { logger, lines } = captureLogger();
  const app = await buildApp({
    logger,
    tokens: parseTokens(`gs-alpha:${TOKEN},gs-beta:${TOKEN_B},gs-alpha:sandbox:${SANDBOX_TOKEN}`),
    publisher,
    ledger,
    rateGate,
    progress: pipeline,
    archive: pipeline,
    readiness: [],
    maxBodyBytes: 1024 * 1024,
    maxEventsPerRequest: 1000,
    publishTimeoutMs: 200,
    claimTtlMs: 30_000,
    maxPendingEvents: 100_000,
    now: clock.now,
    ...overrides,
  });
  return { app, clock, publisher, ledger, rateGate, pipeline, lines };
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
