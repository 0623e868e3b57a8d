// GET /v1/events/:eventId: where an accepted event is, from what the pipeline already keeps —
// the idempotency ledger (accepted: when, partition, offset), the processors' committed offsets
// (processed, and the lag when not yet), the archive's alerts (flagged, with the alert id) and
// events (archived). No HTTP here; app.ts maps the answer to a reply.
//
// "Flagged" needs care: the processor commits an alert in the same transaction as the offset that
// makes the trade "processed", but the archive learns of the alert a little later. So an alert
// found in the archive means flagged; no alert means "not flagged" only once the sink is known to
// have archived every alert committed before the trade was seen processed. That point is a mark
// (the last stable offset of the user's alerts partition) taken the first time the trade is seen
// processed and kept in the ledger; once the sink's committed offset there has passed the mark,
// the absence of an alert is final. Until then `flagged` is null ("not known yet").
import { deriveAlertId, RULE_ID } from '@tradewatch/shared/alerts';
import type { AcceptedLedger, ArchiveLookup, Caller, EventPublisher, PipelineProgress } from './ports.ts';

export type ProcessedStage =
  | {
      state: 'pending';
      /** The processors' committed offset on the event's partition; null: nothing committed yet. */
      committedOffset: number | null;
      /** Records of the partition, this one included, that the processors have still to commit. */
      lag: number;
    }
  | {
      state: 'done';
      committedOffset: number;
      /** true: an alert was raised; false: none was; null: not known yet (ask again). */
      flagged: boolean | null;
      alertId: string | null;
    }
  | { state: 'unknown'; reason: string }
  | { state: 'skipped'; reason: string };

export type ArchivedStage =
  | { state: 'done'; archivedAt: number }
  | { state: 'pending' }
  | { state: 'unknown'; reason: string }
  | { state: 'skipped'; reason: string };

export interface EventStatus {
  eventId: string;
  type: 'login' | 'trade';
  userId: string;
  sandbox: boolean;
  accepted: { receivedAt: number; topic: string; partition: number; offset: number };
  processed: ProcessedStage;
  archived: ArchivedStage;
}

export interface EventStatusDeps {
  ledger: AcceptedLedger;
  publisher: Pick<EventPublisher, 'topic'>;
  progress: PipelineProgress;
  archive: ArchiveLookup;
  /** Bound on each question to Kafka or ClickHouse, ms. */
  timeoutMs: number;
}

export interface EventStatusQuery {
  /** undefined: this game server has no accepted event of this id in the idempotency window. */
  lookup(caller: Caller, eventId: string): Promise<EventStatus | undefined>;
}

/** The `reason` of a sandbox event's skipped stages (the OpenAPI example shows it too). */
export const SANDBOX_REASON = 'sandbox events are never processed nor archived';

const within = async <T>(what: string, ms: number, work: () => Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export const createEventStatusQuery = (deps: EventStatusDeps): EventStatusQuery => {
  const ask = <T>(what: string, work: () => Promise<T>) => within(what, deps.timeoutMs, work);

  const processed = async (
    caller: Caller,
    eventId: string,
    type: 'login' | 'trade',
    userId: string,
    partition: number,
    offset: number,
  ): Promise<ProcessedStage> => {
    let committed: number | null;
    try {
      committed = await ask('Kafka', () => deps.progress.processorsCommitted(partition));
    } catch (err) {
      return { state: 'unknown', reason: reasonOf(err) };
    }
    if (committed === null || committed <= offset) {
      return { state: 'pending', committedOffset: committed, lag: offset + 1 - (committed ?? 0) };
    }
    if (type === 'login') return { state: 'done', committedOffset: committed, flagged: false, alertId: null };

    const alertId = deriveAlertId(RULE_ID, eventId);
    // Order matters: the mark is taken after the trade was seen processed, the sink's progress is
    // read before the archive, so that "archived past the mark" and "no row" together mean none.
    let settled = false;
    try {
      const mark = await deps.ledger.alertsMarkOnce(caller.mode, eventId, () =>
        ask('Kafka', () => deps.progress.alertsMark(userId)),
      );
      settled = await ask('Kafka', () => deps.progress.alertsArchivedPast(userId, mark));
    } catch {
      // Without the sink's progress, only a found alert is an answer.
    }
    try {
      const alert = await ask('ClickHouse', () => deps.archive.alert(userId, alertId));
      if (alert !== undefined) return { state: 'done', committedOffset: committed, flagged: true, alertId };
      return { state: 'done', committedOffset: committed, flagged: settled ? false : null, alertId: null };
    } catch {
      return { state: 'done', committedOffset: committed, flagged: null, alertId: null };
    }
  };

  const archived = async (userId: string, eventId: string): Promise<ArchivedStage> => {
    try {
      const at = await ask('ClickHouse', () => deps.archive.eventArchivedAt(userId, eventId));
      return at === undefined ? { state: 'pending' } : { state: 'done', archivedAt: at };
    } catch (err) {
      return { state: 'unknown', reason: reasonOf(err) };
    }
  };

  return {
    async lookup(caller, eventId) {
      const record = await deps.ledger.lookup(caller.mode, eventId);
      if (record === undefined || record.gameServerId !== caller.gameServerId) return undefined;
      const { type, userId, partition, offset, receivedAt } = record;
      const sandbox = caller.mode === 'sandbox';
      const [p, a] = sandbox
        ? [
            { state: 'skipped', reason: SANDBOX_REASON } as const,
            { state: 'skipped', reason: SANDBOX_REASON } as const,
          ]
        : await Promise.all([
            processed(caller, eventId, type, userId, partition, offset),
            archived(userId, eventId),
          ]);
      return {
        eventId,
        type,
        userId,
        sandbox,
        accepted: { receivedAt, topic: deps.publisher.topic(caller.mode), partition, offset },
        processed: p,
        archived: a,
      };
    },
  };
};
