// A deliberately plain implementation of the detection rule (docs/analysts.md, "The detection rule"), written from the spec
// text with ordinary arrays and no optimisation. Tests use it to decide what "correct" is.
import { deriveAlertId, RULE_ID } from '@tradewatch/shared/alerts';
import type { GameEvent } from '@tradewatch/shared/events';
import type { RuleDefinition } from '@tradewatch/shared/rules';

export interface ReferenceParams {
  history: number;
  minTrades: number;
  amountFactor: number;
}

export interface ExpectedAlert {
  alertId: string;
  userId: string;
  tradeEventId: string;
  amount: number;
  baseline: number;
  ip: string;
  knownIps: string[];
  previousTrades: number;
}

interface UserHistory {
  session: string | undefined;
  pastSessions: string[];
  trades: number[];
  seen: string[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Applies the rule to events in topic order and returns the alerts it must raise. */
export const referenceAlerts = (
  events: readonly GameEvent[],
  params: ReferenceParams = { history: 20, minTrades: 5, amountFactor: 3 },
): ExpectedAlert[] => {
  const users = new Map<string, UserHistory>();
  const alerts: ExpectedAlert[] = [];
  for (const ev of events) {
    let u = users.get(ev.userId);
    if (!u) {
      u = { session: undefined, pastSessions: [], trades: [], seen: [] };
      users.set(ev.userId, u);
    }
    // The user's history: current session, past sessions and trades kept, i.e. 2H+1 events.
    if (u.seen.includes(ev.eventId)) continue;
    u.seen.push(ev.eventId);
    if (u.seen.length > 2 * params.history + 1) u.seen.shift();

    if (ev.type === 'login') {
      if (u.session !== undefined) u.pastSessions.push(u.session);
      if (u.pastSessions.length > params.history) u.pastSessions.shift();
      u.session = ev.ip;
      continue;
    }
    const previous = u.trades.slice(-params.history);
    const baseline = previous.length > 0 ? median(previous) : 0;
    const largeAmount = previous.length >= params.minTrades && ev.amount > params.amountFactor * baseline;
    const newIp = u.session !== undefined && u.pastSessions.length > 0 && !u.pastSessions.includes(u.session);
    if (largeAmount && newIp) {
      alerts.push({
        alertId: deriveAlertId(RULE_ID, ev.eventId),
        userId: ev.userId,
        tradeEventId: ev.eventId,
        amount: ev.amount,
        baseline,
        ip: u.session!,
        knownIps: [...new Set([...u.pastSessions].reverse())],
        previousTrades: previous.length,
      });
    }
    u.trades.push(ev.amount);
    if (u.trades.length > params.history) u.trades.shift();
  }
  return alerts;
};

/** One user's state as the processor's state query shows it (the rule's history, docs/analysts.md), lists oldest first. */
export interface ReferenceUserState {
  sessionIp: string | null;
  /** IPs of the last `history` past sessions, oldest first. */
  knownIps: string[];
  /** The last `history` trade amounts, oldest first. */
  trades: number[];
  median: number | null;
}

/**
 * Every user's history, event after event in topic order, with plain arrays: a login ends the
 * current session (it becomes a past session) and starts one with the login's IP; a trade adds
 * its amount; an eventId among the user's last 2H+1 events changes nothing.
 */
export class ReferenceStates {
  readonly history: number;
  private readonly users = new Map<string, UserHistory>();

  constructor(history = 20) {
    this.history = history;
  }

  apply(ev: GameEvent): void {
    let u = this.users.get(ev.userId);
    if (!u) {
      u = { session: undefined, pastSessions: [], trades: [], seen: [] };
      this.users.set(ev.userId, u);
    }
    if (u.seen.includes(ev.eventId)) return;
    u.seen.push(ev.eventId);
    if (u.seen.length > 2 * this.history + 1) u.seen.shift();
    if (ev.type === 'login') {
      if (u.session !== undefined) u.pastSessions.push(u.session);
      if (u.pastSessions.length > this.history) u.pastSessions.shift();
      u.session = ev.ip;
    } else {
      u.trades.push(ev.amount);
      if (u.trades.length > this.history) u.trades.shift();
    }
  }

  /** The user's state, or null for a user no event has named. */
  stateOf(userId: string): ReferenceUserState | null {
    const u = this.users.get(userId);
    if (!u) return null;
    return {
      sessionIp: u.session ?? null,
      knownIps: [...u.pastSessions],
      trades: [...u.trades],
      median: u.trades.length === 0 ? null : median(u.trades),
    };
  }

  userIds(): string[] {
    return [...this.users.keys()];
  }
}

/** Every user's state after `events`, applied in topic order. */
export const referenceState = (
  events: readonly GameEvent[],
  history = 20,
): Map<string, ReferenceUserState> => {
  const states = new ReferenceStates(history);
  for (const ev of events) states.apply(ev);
  return new Map(states.userIds().map((id) => [id, states.stateOf(id)!]));
};

/** An alert the reference raises under a rule history: which rule, which version, which topic. */
export interface ExpectedRuleAlert extends ExpectedAlert {
  rule: string;
  ruleVersion: number;
  shadow: boolean;
}

/**
 * The version of a rule an event at `ts` gets, written from the docs' words (docs/rules.md):
 * the governing version is the highest non-shadow one in force (effectiveFrom ≤ ts) — active
 * raises alerts, disabled raises nothing — and a shadow version in force that is higher than it
 * runs beside it.
 */
const versionsAt = (versions: readonly RuleDefinition[], ts: number) => {
  const inForce = versions.filter((v) => v.effectiveFrom <= ts);
  const highest = (vs: RuleDefinition[]) =>
    vs.reduce<RuleDefinition | undefined>(
      (b, v) => (b === undefined || v.version > b.version ? v : b),
      undefined,
    );
  const governing = highest(inForce.filter((v) => v.mode !== 'shadow'));
  const shadow = highest(inForce.filter((v) => v.mode === 'shadow'));
  return {
    active: governing?.mode === 'active' ? governing : undefined,
    shadow:
      shadow !== undefined && (governing === undefined || shadow.version > governing.version)
        ? shadow
        : undefined,
  };
};

/**
 * Applies every rule of `versions` (any rule ids, both rule types) to events in topic order,
 * each event getting the versions its time says; plain arrays, no optimisation.
 */
export const referenceRuleAlerts = (
  events: readonly GameEvent[],
  versions: readonly RuleDefinition[],
  history = 20,
): ExpectedRuleAlert[] => {
  const users = new Map<string, UserHistory>();
  const ruleIds = [...new Set(versions.map((v) => v.ruleId))].sort();
  const alerts: ExpectedRuleAlert[] = [];
  for (const ev of events) {
    let u = users.get(ev.userId);
    if (!u) {
      u = { session: undefined, pastSessions: [], trades: [], seen: [] };
      users.set(ev.userId, u);
    }
    if (u.seen.includes(ev.eventId)) continue;
    u.seen.push(ev.eventId);
    if (u.seen.length > 2 * history + 1) u.seen.shift();
    if (ev.type === 'login') {
      if (u.session !== undefined) u.pastSessions.push(u.session);
      if (u.pastSessions.length > history) u.pastSessions.shift();
      u.session = ev.ip;
      continue;
    }
    const previous = u.trades.slice(-history);
    const newIp = u.session !== undefined && u.pastSessions.length > 0 && !u.pastSessions.includes(u.session);
    const raise = (v: RuleDefinition, baseline: number, shadow: boolean) =>
      alerts.push({
        alertId: deriveAlertId(v.ruleId, ev.eventId),
        rule: v.ruleId,
        ruleVersion: v.version,
        shadow,
        userId: ev.userId,
        tradeEventId: ev.eventId,
        amount: ev.amount,
        baseline,
        ip: u.session ?? '',
        knownIps: [...new Set([...u.pastSessions].reverse())],
        previousTrades: previous.length,
      });
    const judge = (v: RuleDefinition, shadow: boolean) => {
      if (v.type === 'large-trade-new-ip') {
        const o = v.params.currencies[ev.currency] ?? {};
        const minTrades = o.minTrades ?? v.params.minTrades;
        const factor = o.amountFactor ?? v.params.amountFactor;
        const minAmount = o.minAmount ?? v.params.minAmount;
        if (previous.length < minTrades || ev.amount < minAmount || !newIp) return;
        const baseline = median(previous);
        if (ev.amount > factor * baseline) raise(v, baseline, shadow);
      } else {
        if (previous.length < v.params.minTrades || ev.amount < v.params.minAmount) return;
        if (v.params.requireNewIp && !newIp) return;
        let recent = 0;
        for (const a of previous) recent += a;
        if (ev.amount >= v.params.minShare * (recent + ev.amount)) raise(v, recent, shadow);
      }
    };
    for (const ruleId of ruleIds) {
      const at = versionsAt(
        versions.filter((v) => v.ruleId === ruleId),
        ev.ts,
      );
      if (at.active) judge(at.active, false);
      if (at.shadow) judge(at.shadow, true);
    }
    u.trades.push(ev.amount);
    if (u.trades.length > history) u.trades.shift();
  }
  return alerts;
};
