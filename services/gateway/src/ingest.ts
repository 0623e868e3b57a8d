// Accepting a request's events: validate all, take the rate budget, claim the eventIds (refusing
// an eventId reused with other content), publish the new ones within a deadline, record them as
// accepted with where Kafka wrote them. No HTTP here; app.ts maps the outcome to a reply. The
// crash windows each step covers are listed in idempotency.ts.
import { randomUUID } from 'node:crypto';
import { validateIncomingEvent, type GameEvent } from '@tradewatch/shared/events';
import { HttpError, eventIdConflict, invalidEvents, type EventFieldError } from './errors.ts';
import { createGatewayMetrics, type IngestMetrics } from './gateway-metrics.ts';
import { eventFingerprint } from './idempotency.ts';
import type {
  AcceptedLedger,
  AcceptedRecord,
  Caller,
  EventPosition,
  EventPublisher,
  IngestMode,
  RateGate,
} from './ports.ts';

export interface IngestDeps {
  publisher: EventPublisher;
  ledger: AcceptedLedger;
  rateGate: RateGate;
  /** How long a request waits for Kafka's acknowledgement before it is answered 503. */
  publishTimeoutMs: number;
  /** How long a claim on an eventId outlives a request that never finished (crash, lost ack). */
  claimTtlMs: number;
  /** Events handed to the publisher and not yet settled, beyond which requests get 503 at once. */
  maxPendingEvents: number;
  now: () => number;
  metrics?: IngestMetrics;
}

/** Where a request's warnings go: its own child logger, carrying the request id. */
export interface RequestLog {
  warn(fields: object, message: string): void;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

/** The most field errors a 400 lists; enough to fix a batch, bounded for the reply size. */
const MAX_DETAILS = 100;

/** Text fields that become Kafka keys or archived strings: they must be valid Unicode. */
const TEXT_FIELDS = ['userId', 'currency', 'itemId', 'counterpartyId'] as const;

const validateAll = (
  rawEvents: readonly unknown[],
  gameServerId: string,
  receivedAt: number,
): GameEvent[] => {
  const events: GameEvent[] = [];
  const details: EventFieldError[] = [];
  rawEvents.forEach((raw, index) => {
    const r = validateIncomingEvent(raw, { gameServerId, receivedAt });
    if (!r.ok) {
      for (const e of r.errors) details.push({ index, ...e });
      return;
    }
    // JSON escapes can carry lone UTF-16 surrogates, which UTF-8 (Kafka keys, the archive) cannot.
    for (const field of TEXT_FIELDS) {
      const v = (r.value as unknown as Record<string, unknown>)[field];
      if (typeof v === 'string' && !v.isWellFormed()) {
        details.push({
          index,
          path: `/${field}`,
          message: 'Expected well-formed Unicode (no lone surrogates)',
        });
      }
    }
    events.push(r.value);
  });
  if (details.length > 0) {
    const invalid = new Set(details.map((d) => d.index)).size;
    throw invalidEvents(invalid, rawEvents.length, details.slice(0, MAX_DETAILS));
  }
  return events;
};

/**
 * The indexes of the events that reuse an eventId for other content: later occurrences in the
 * request that differ from the first, and every occurrence matching a first one the ledger has
 * already accepted with other content.
 */
const conflictingIndexes = (
  events: readonly GameEvent[],
  fingerprints: readonly string[],
  ledgerConflicts: ReadonlySet<string>,
): number[] => {
  const firstFingerprint = new Map<string, string>();
  const indexes: number[] = [];
  events.forEach((ev, i) => {
    const first = firstFingerprint.get(ev.eventId);
    if (first === undefined) firstFingerprint.set(ev.eventId, fingerprints[i]!);
    const fp = first ?? fingerprints[i]!;
    if (fp !== fingerprints[i] || ledgerConflicts.has(ev.eventId)) indexes.push(i);
  });
  return indexes;
};

export interface Ingest {
  accept(caller: Caller, rawEvents: readonly unknown[], log: RequestLog): Promise<IngestResult>;
  /** Events handed to Kafka and not yet acknowledged or failed, including those of timed-out requests. */
  pendingEvents(): number;
  /** Waits until every publish that outlived its request has settled and been recorded. */
  drain(): Promise<void>;
}

export const createIngest = (deps: IngestDeps): Ingest => {
  let pending = 0;
  const metrics = deps.metrics ?? createGatewayMetrics();
  const outliving = new Set<Promise<void>>();

  const toRecords = (
    fresh: readonly GameEvent[],
    fingerprints: readonly string[],
    positions: EventPosition[],
  ) =>
    fresh.map((ev, i): AcceptedRecord => ({
      eventId: ev.eventId,
      fingerprint: fingerprints[i]!,
      gameServerId: ev.gameServerId,
      type: ev.type,
      userId: ev.userId,
      receivedAt: ev.receivedAt,
      partition: positions[i]!.partition,
      offset: positions[i]!.offset,
    }));

  const publishWithinDeadline = async (
    mode: IngestMode,
    fresh: GameEvent[],
    fingerprints: string[],
    owner: string,
    log: RequestLog,
  ): Promise<EventPosition[]> => {
    const ids = fresh.map((e) => e.eventId);
    pending += fresh.length;
    const send = deps.publisher.publish(fresh, mode).finally(() => {
      pending -= fresh.length;
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deps.publishTimeoutMs);
    });
    let outcome: EventPosition[] | 'timeout';
    try {
      outcome = await Promise.race([send, deadline]);
    } catch (err) {
      // Nothing was acknowledged: free the ids for the client's retry.
      await deps.ledger
        .release(mode, ids, owner)
        .catch((e: unknown) => log.warn({ err: e }, 'could not release claims'));
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') {
      // The send goes on. If Kafka acknowledges it late, record the ids so that the client's
      // retry is answered as duplicates; if it fails, free them for the retry. Until then the
      // claims are kept alive: a retry meanwhile must not publish a second copy.
      const keepClaimed = setInterval(() => {
        deps.ledger
          .extend(mode, ids, owner, deps.claimTtlMs)
          .catch((err: unknown) => log.warn({ err }, 'could not extend the claims of a late publish'));
      }, deps.claimTtlMs / 3);
      const settle = send
        .finally(() => clearInterval(keepClaimed))
        .then(
          (positions) => deps.ledger.markAccepted(mode, toRecords(fresh, fingerprints, positions)),
          () => deps.ledger.release(mode, ids, owner),
        );
      const tracked = settle
        .catch((err: unknown) => log.warn({ err }, 'could not record the outcome of a late publish'))
        .finally(() => outliving.delete(tracked));
      outliving.add(tracked);
      throw new HttpError(
        'unavailable',
        `Kafka did not acknowledge within ${deps.publishTimeoutMs} ms; retry`,
      );
    }
    return outcome;
  };

  return {
    pendingEvents: () => pending,
    drain: async () => {
      while (outliving.size > 0) await Promise.allSettled([...outliving]);
    },

    async accept(caller, rawEvents, log) {
      const { gameServerId, mode } = caller;
      const events = validateAll(rawEvents, gameServerId, deps.now());

      // A sandbox token has a budget of its own: testing an integration cannot starve live traffic.
      const rate = await deps.rateGate.take(
        mode === 'live' ? gameServerId : `${gameServerId}:sandbox`,
        events.length,
      );
      if (!rate.allowed) {
        metrics.rateLimited(mode, events.length);
        throw new HttpError('rate_limited', undefined, { retryAfterSec: rate.retryAfterSec });
      }

      // The first occurrence of an eventId in the request is the one that counts.
      const fingerprints = events.map(eventFingerprint);
      const firstOf = new Map<string, number>();
      events.forEach((ev, i) => {
        if (!firstOf.has(ev.eventId)) firstOf.set(ev.eventId, i);
      });
      const uniqueAt = [...firstOf.values()];
      if (pending + uniqueAt.length > deps.maxPendingEvents) {
        throw new HttpError('unavailable', 'too many events waiting for Kafka; retry shortly');
      }

      const owner = randomUUID();
      const claims = await deps.ledger.claim(
        mode,
        uniqueAt.map((i) => ({ eventId: events[i]!.eventId, fingerprint: fingerprints[i]! })),
        owner,
        deps.claimTtlMs,
      );
      const freshAt = uniqueAt.filter((_, k) => claims[k] === 'claimed');
      const fresh = freshAt.map((i) => events[i]!);
      const ledgerConflicts = new Set(
        uniqueAt.filter((_, k) => claims[k] === 'conflict').map((i) => events[i]!.eventId),
      );
      const conflicts = conflictingIndexes(events, fingerprints, ledgerConflicts);
      if (conflicts.length > 0 || claims.includes('pending')) {
        await deps.ledger.release(
          mode,
          fresh.map((e) => e.eventId),
          owner,
        );
        if (conflicts.length > 0) throw eventIdConflict(conflicts);
        throw new HttpError('in_progress');
      }

      if (fresh.length > 0) {
        const freshFingerprints = freshAt.map((i) => fingerprints[i]!);
        const positions = await publishWithinDeadline(mode, fresh, freshFingerprints, owner, log);
        // Kafka has the events: the reply is 202 even if Redis fails now. The claims then expire
        // after claimTtlMs, and a later retry republishes; consumers drop the copy by eventId.
        await deps.ledger
          .markAccepted(mode, toRecords(fresh, freshFingerprints, positions))
          .catch((err: unknown) =>
            log.warn({ err, events: fresh.length }, 'published, but could not record as accepted'),
          );
      }
      metrics.accepted(mode, fresh.length);
      metrics.duplicates(mode, events.length - fresh.length);
      return { accepted: fresh.length, duplicates: events.length - fresh.length };
    },
  };
};
