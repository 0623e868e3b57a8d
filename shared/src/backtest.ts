// The backtest (docs/rules.md): archived events replayed, in topic order, through the very engine
// the processor runs (rule-engine.ts) on a state rebuilt from everything before the window, with
// a candidate rule version beside the rule's own archived history. Reports what the candidate
// raises in the window, what the active versions raised (the archived alerts), the difference both
// ways, precision against analyst labels, and what replaying the rule's history by event time
// gives — which differs from the archive only where a version was read late. Pure: no I/O; the
// caller feeds events and the archive's alerts and labels.
import { deriveAlertId } from './alerts.ts';
import type { GameEvent } from './events.ts';
import { IpInterner } from './ip-interner.ts';
import { precisionOf } from './labels.ts';
import { RuleEngine } from './rule-engine.ts';
import {
  checkRuleDefinition,
  RULE_HISTORY,
  RuleBook,
  RuleInvalidError,
  SEED_RULE,
  type RuleDefinition,
} from './rules.ts';
import { UserStateStore } from './user-state-store.ts';

export interface BacktestWindow {
  /** Trades with from ≤ ts < to are judged; everything before them builds the state. */
  from: number;
  to: number;
}

/** An alert of the window, as far as the comparison needs it. */
export interface WindowAlert {
  alertId: string;
  ruleVersion: number;
  tradeEventId: string;
}

export type Verdict = 'confirmed_fraud' | 'false_positive';

export interface BacktestReport {
  rule: string;
  candidateVersion: number;
  window: BacktestWindow;
  /** Events replayed (the window's and the history before it). */
  events: number;
  /** Trades in the window. */
  windowTrades: number;
  candidate: { alerts: number };
  /** The alerts the active versions raised in the window: the archive's. */
  active: { alerts: number };
  onlyCandidate: number;
  onlyActive: number;
  precision: { candidate: number | null; active: number | null };
  /** The rule's archived history replayed by event time; differs from the archive only where a version was read late. */
  replayedHistory: { alerts: number; notArchived: number; archivedNotReplayed: number; otherVersion: number };
  /** A few of each difference, for people to look at. */
  samples: { onlyCandidate: string[]; onlyActive: string[]; lateDifferences: string[] };
}

/** Where the candidate is evaluated in the book: beside the rule's own versions, under its own id. */
const CANDIDATE_ID = 'backtest-candidate';
const SAMPLES = 20;

/**
 * The candidate from a rule file: a definition, or a draft of one (ruleId, type, params and
 * optionally version). Its mode and effectiveFrom do not matter: it is judged on the whole window.
 * Throws RuleInvalidError with every problem.
 */
export const candidateFrom = (raw: unknown, history: readonly RuleDefinition[]): RuleDefinition => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new RuleInvalidError(['/: expected an object']);
  const r = raw as Record<string, unknown>;
  const highest = history.reduce((n, v) => (v.ruleId === r.ruleId ? Math.max(n, v.version) : n), 0);
  const checked = checkRuleDefinition({
    mode: 'active',
    effectiveFrom: 0,
    author: 'backtest',
    reason: 'backtest candidate',
    createdAt: 0,
    version: highest + 1,
    ...r,
  });
  if (!checked.ok) throw new RuleInvalidError(checked.problems);
  return checked.definition;
};

/** A rule's versions as the archive holds them, with the seed when the archive has no version 1 of it. */
export const ruleHistory = (ruleId: string, archived: readonly RuleDefinition[]): RuleDefinition[] => {
  const own = archived.filter((v) => v.ruleId === ruleId);
  if (ruleId === SEED_RULE.ruleId && !own.some((v) => v.version === 1)) own.push(SEED_RULE);
  return own.sort((a, b) => a.version - b.version);
};

export class Backtest {
  readonly candidate: RuleDefinition;
  readonly window: BacktestWindow;
  private readonly engine: RuleEngine;
  private readonly store: UserStateStore;
  private readonly candidateAlerts = new Set<string>();
  private readonly replayedAlerts = new Map<string, number>();
  private eventsSeen = 0;
  private trades = 0;

  constructor(candidate: RuleDefinition, history: readonly RuleDefinition[], window: BacktestWindow) {
    if (!(window.from < window.to))
      throw new RuleInvalidError([`/window: from (${window.from}) must be before to (${window.to})`]);
    this.candidate = candidate;
    this.window = window;
    const book = new RuleBook([]);
    for (const v of history) book.add(v);
    book.add({ ...candidate, ruleId: CANDIDATE_ID, mode: 'active', effectiveFrom: 0 });
    this.engine = new RuleEngine(book, RULE_HISTORY);
    this.store = new UserStateStore(RULE_HISTORY, new IpInterner());
  }

  get events(): number {
    return this.eventsSeen;
  }

  /** Applies events in topic order (per user); only trades of the window are judged. */
  apply(events: readonly GameEvent[]): void {
    const { from, to } = this.window;
    for (const ev of events) {
      this.eventsSeen++;
      const outcome = this.engine.apply(this.store, ev, 0);
      if (ev.type !== 'trade' || ev.ts < from || ev.ts >= to || outcome.kind === 'duplicate') continue;
      this.trades++;
      for (const { alert, shadow } of outcome.alerts ?? []) {
        if (shadow) continue;
        if (alert.rule === CANDIDATE_ID)
          this.candidateAlerts.add(deriveAlertId(this.candidate.ruleId, ev.eventId));
        else this.replayedAlerts.set(alert.alertId, alert.ruleVersion);
      }
    }
  }

  /** The report, given the window's archived alerts of the rule and the analysts' current verdicts. */
  report(archived: readonly WindowAlert[], verdicts: ReadonlyMap<string, Verdict>): BacktestReport {
    const active = new Map(archived.map((a) => [a.alertId, a.ruleVersion]));
    const onlyCandidate = [...this.candidateAlerts].filter((id) => !active.has(id));
    const onlyActive = [...active.keys()].filter((id) => !this.candidateAlerts.has(id));
    const notArchived = [...this.replayedAlerts.keys()].filter((id) => !active.has(id));
    const archivedNotReplayed = [...active.keys()].filter((id) => !this.replayedAlerts.has(id));
    const otherVersion = [...active].filter(
      ([id, v]) => this.replayedAlerts.has(id) && this.replayedAlerts.get(id) !== v,
    );
    const precision = (ids: Iterable<string>) => {
      let confirmed = 0;
      let falsePositive = 0;
      for (const id of ids) {
        const v = verdicts.get(id);
        if (v === 'confirmed_fraud') confirmed++;
        else if (v === 'false_positive') falsePositive++;
      }
      return precisionOf(confirmed, falsePositive);
    };
    return {
      rule: this.candidate.ruleId,
      candidateVersion: this.candidate.version,
      window: { ...this.window },
      events: this.eventsSeen,
      windowTrades: this.trades,
      candidate: { alerts: this.candidateAlerts.size },
      active: { alerts: active.size },
      onlyCandidate: onlyCandidate.length,
      onlyActive: onlyActive.length,
      precision: { candidate: precision(this.candidateAlerts), active: precision(active.keys()) },
      replayedHistory: {
        alerts: this.replayedAlerts.size,
        notArchived: notArchived.length,
        archivedNotReplayed: archivedNotReplayed.length,
        otherVersion: otherVersion.length,
      },
      samples: {
        onlyCandidate: onlyCandidate.slice(0, SAMPLES),
        onlyActive: onlyActive.slice(0, SAMPLES),
        lateDifferences: [...notArchived, ...archivedNotReplayed, ...otherVersion.map(([id]) => id)].slice(
          0,
          SAMPLES,
        ),
      },
    };
  }
}
