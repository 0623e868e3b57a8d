// One assigned partition of the events topic and the user state it owns (Kafka Streams'
// StreamTask). Its life is an explicit state machine, every allowed transition in TRANSITIONS:
//
//   created ──initialize──▶ restoring ──restored──▶ running ──▶ closed
//      └────────────────────────┴──────────────────────────────────▲
//
// restoring: the state is loaded from the changelog (changelog-restorer.ts) and the committed
// offset read; running: fetched records are applied at once (`process`), and their output waits
// in the task until `prepareCommit` hands it to a transaction; closed: the task is gone (revoked,
// migrated, corrupted or shut down) and does nothing more, whatever is still running. Closing is
// safe to repeat. Liveness is the state, not whether this object is still in some map.
//
// A batch is applied and its offset recorded in one synchronous step, so that `view` always
// answers a state that matches `applied`.
//
// A record whose `traceparent` is sampled gets a span for its handling, and the alert it raises
// carries that span on (trace-context.ts); other records cost one header lookup.
import { trace } from '@opentelemetry/api';
import { deadLetterRecord } from '@tradewatch/shared/dead-letters';
import { decodeEventRecord } from '@tradewatch/shared/event-records';
import { encodeAlert } from '@tradewatch/shared/alerts';
import { TradewatchError } from '@tradewatch/shared/errors';
import type { ConsumedRecord, OutgoingRecord } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { RuleEngine } from '@tradewatch/shared/rule-engine';
import { startRecordSpan, traceHeaders } from '@tradewatch/shared/trace-context';
import type { ProcessorStats } from './processor-stats.ts';
import type { UserStateStore, UserStateView } from '@tradewatch/shared/user-state-store';

export type TaskState = 'created' | 'restoring' | 'running' | 'closed';

export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = Object.freeze({
  created: ['restoring', 'closed'],
  restoring: ['running', 'closed'],
  running: ['closed'],
  closed: [],
});

export interface TaskTopics {
  events: string;
  alerts: string;
  /** Where shadow rule versions' alerts go (never to `alerts`). */
  shadowAlerts: string;
  changelog: string;
  deadLetters: string;
}

export interface PartitionTaskDeps {
  partition: number;
  topics: TaskTopics;
  store: UserStateStore;
  /** The rules, in the version each event's time says (rule-engine.ts). */
  engine: RuleEngine;
  /** Loads the partition's state from the changelog; resolves with the records read. */
  restore: (store: UserStateStore, onProgress: (records: number) => void) => Promise<number>;
  /** Stops a restore in progress. */
  cancelRestore: () => void;
  /** The group's committed offset of the partition (stable), undefined when none. */
  committedOffset: () => Promise<number | undefined>;
  log: Logger;
  stats: ProcessorStats;
  now: () => number;
}

/** What one task puts into a transaction. */
export interface TaskCommit {
  partition: number;
  /** The offset to commit: after the last record applied. */
  nextOffset: number;
  /** Alerts (active and shadow) and dead letters, in the order their records were applied. */
  output: OutgoingRecord[];
  /** Each user changed since the previous commit, once. */
  changelog: OutgoingRecord[];
  events: number;
  duplicates: number;
  alerts: number;
  shadowAlerts: number;
  deadLetters: number;
}

const ENCODE_CHUNK_BYTES = 256 * 1024;
const tracer = trace.getTracer('tradewatch-processor');

export class PartitionTask {
  readonly partition: number;
  private readonly d: PartitionTaskDeps;
  private current: TaskState = 'created';
  /** Offset after the last record applied to the state; undefined until known. */
  private appliedOffset: number | undefined;
  /** Offset after the last record whose effects are committed. */
  private committedOffset: number | undefined;
  private output: OutgoingRecord[] = [];
  private events = 0;
  private duplicates = 0;
  private alerts = 0;
  private shadowAlerts = 0;
  private deadLetters = 0;
  private pending = false;

  constructor(deps: PartitionTaskDeps) {
    this.d = deps;
    this.partition = deps.partition;
  }

  get state(): TaskState {
    return this.current;
  }

  get applied(): number | undefined {
    return this.appliedOffset;
  }

  get committed(): number | undefined {
    return this.committedOffset;
  }

  get users(): number {
    return this.d.store.size;
  }

  /** A method, not a field read: the state changes under an await. */
  isClosed(): boolean {
    return this.current === 'closed';
  }

  private transition(to: TaskState): void {
    if (!TRANSITIONS[this.current].includes(to)) {
      throw new TradewatchError(
        'PROCESSOR_TASK_STATE',
        `task ${this.partition}: no transition from ${this.current} to ${to}`,
      );
    }
    this.current = to;
  }

  /**
   * Restores the state and reads where it ends. Resolves with the offset to fetch from (the
   * committed offset, or undefined: the group's fallback, the start), or undefined when the task
   * was closed meanwhile.
   */
  async initialize(): Promise<{ offset: number | undefined } | undefined> {
    this.transition('restoring');
    const started = this.d.now();
    this.d.stats.restoreStarted(this.partition);
    const records = await this.d.restore(this.d.store, (n) =>
      this.d.stats.restoreProgress(this.partition, n, this.d.store.size),
    );
    if (this.isClosed()) return undefined;
    // After the marker, any transaction of the previous owner is decided: the committed offset
    // (read stable) is exactly where the restored state ends.
    const committed = await this.d.committedOffset();
    if (this.isClosed()) return undefined;
    this.appliedOffset = committed;
    this.committedOffset = committed;
    this.transition('running');
    const ms = this.d.now() - started;
    this.d.stats.restored(this.partition, records, this.d.store.size, ms);
    this.d.log.info(
      { partition: this.partition, users: this.d.store.size, records, ms, offset: committed },
      'partition restored',
    );
    return { offset: committed };
  }

  /** Applies the records at or past the applied offset; returns how many it applied. */
  process(records: readonly ConsumedRecord[], nextOffset: number): number {
    if (this.current !== 'running') return 0;
    const from = this.appliedOffset ?? 0;
    const now = this.d.now();
    let applied = 0;
    for (const r of records) {
      if (r.offset < from) continue; // already in the state
      applied++;
      const decoded = decodeEventRecord(r.key, r.value);
      if (!decoded.ok) {
        this.deadLetter(r, decoded.reason, decoded.detail);
        continue;
      }
      this.events++;
      const span = startRecordSpan(tracer, `process ${this.d.topics.events}`, r.headers, {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': this.d.topics.events,
        'messaging.destination.partition.id': String(this.partition),
        'messaging.kafka.offset': r.offset,
        'tradewatch.event.id': decoded.event.eventId,
      });
      const outcome = this.d.engine.apply(this.d.store, decoded.event, now);
      if (outcome.kind === 'duplicate') this.duplicates++;
      else if (outcome.alerts !== undefined) {
        for (const { alert, shadow } of outcome.alerts) {
          if (shadow) this.shadowAlerts++;
          else this.alerts++;
          const record: OutgoingRecord = {
            topic: shadow ? this.d.topics.shadowAlerts : this.d.topics.alerts,
            key: alert.userId,
            value: encodeAlert(alert),
          };
          if (span !== undefined) {
            if (!shadow) span.setAttribute('tradewatch.alert.id', alert.alertId);
            record.headers = traceHeaders(span);
          }
          this.output.push(record);
        }
      }
      if (span !== undefined) {
        span.setAttribute('tradewatch.event.duplicate', outcome.kind === 'duplicate');
        span.end();
      }
    }
    // Past markers and aborted records too: the offset to commit is where the next fetch starts.
    if (this.appliedOffset === undefined || nextOffset > this.appliedOffset) {
      this.appliedOffset = nextOffset;
      this.pending = true;
    }
    this.committedOffset ??= records[0]?.offset;
    return applied;
  }

  private deadLetter(
    r: ConsumedRecord,
    reason: 'not_json' | 'invalid_event' | 'key_mismatch',
    detail: string,
  ) {
    const source = { topic: this.d.topics.events, partition: this.partition, offset: r.offset };
    this.d.log.warn({ ...source, reason, detail }, 'record sent to dead letters');
    this.deadLetters++;
    this.output.push(
      deadLetterRecord(this.d.topics.deadLetters, {
        source,
        key: r.key,
        value: r.value,
        reason,
        detail,
        stage: 'processor',
      }),
    );
  }

  /** Hands over what was applied since the last commit; undefined when nothing was. */
  prepareCommit(): TaskCommit | undefined {
    if (this.current !== 'running' || !this.pending || this.appliedOffset === undefined) return undefined;
    const commit: TaskCommit = {
      partition: this.partition,
      nextOffset: this.appliedOffset,
      output: this.output,
      changelog: this.encodeChangelog(),
      events: this.events,
      duplicates: this.duplicates,
      alerts: this.alerts,
      shadowAlerts: this.shadowAlerts,
      deadLetters: this.deadLetters,
    };
    this.output = [];
    this.events = 0;
    this.duplicates = 0;
    this.alerts = 0;
    this.shadowAlerts = 0;
    this.deadLetters = 0;
    this.pending = false;
    return commit;
  }

  /** The transaction carrying `nextOffset` committed. */
  postCommit(nextOffset: number): void {
    if (this.current === 'closed') return;
    if (this.committedOffset === undefined || nextOffset > this.committedOffset)
      this.committedOffset = nextOffset;
  }

  /** Each user changed since the last commit, once, encoded straight from the store. */
  private encodeChangelog(): OutgoingRecord[] {
    const { store } = this.d;
    const slots = store.takeDirty();
    const out = new Array<OutgoingRecord>(slots.length);
    const max = store.maxEncodedSize;
    let buf = Buffer.allocUnsafe(Math.max(ENCODE_CHUNK_BYTES, max));
    let o = 0;
    for (let i = 0; i < slots.length; i++) {
      if (buf.length - o < max) {
        buf = Buffer.allocUnsafe(Math.max(ENCODE_CHUNK_BYTES, max));
        o = 0;
      }
      const end = store.encodeInto(slots[i]!, buf, o);
      out[i] = {
        topic: this.d.topics.changelog,
        partition: this.partition,
        key: store.userIdOf(slots[i]!),
        value: buf.subarray(o, end),
      };
      o = end;
    }
    return out;
  }

  /** The user's applied state and the offset it reflects; undefined unless running. */
  view(userId: string): { appliedOffset: number | null; state: UserStateView | null } | undefined {
    if (this.current !== 'running') return undefined;
    return { appliedOffset: this.appliedOffset ?? null, state: this.d.store.view(userId) ?? null };
  }

  /**
   * Closes the task: what it applied but did not commit is forgotten (the next owner, or a new
   * task here, restores what was committed). Safe to call in any state, any number of times.
   */
  close(reason: string): void {
    if (this.current === 'closed') return;
    const restoring = this.current === 'restoring';
    this.transition('closed');
    this.output = [];
    this.pending = false;
    if (restoring) this.d.cancelRestore();
    this.d.stats.dropped(this.partition);
    this.d.log.info({ partition: this.partition, reason }, 'partition task closed');
  }
}
