// The detection engine the processor runs and the backtest replays: applies one event to the
// user state store and evaluates, for a trade, every rule of the rule book in the version that
// applies at the event's time (shared/src/rules.ts), the active one and the shadow one, on the
// same state and before the trade joins it. Pure: no I/O; the clock is passed in.
import { deriveAlertId, type Alert } from './alerts.ts';
import type { GameEvent, TradeEvent } from './events.ts';
import type { DrainParams, LargeTradeParams, RuleBook, RuleDefinition } from './rules.ts';
import { hashEventIdParts, type UserStateStore } from './user-state-store.ts';

/** An alert and where it goes: `alerts` (active) or `alerts.shadow`. */
export interface RuleAlert {
  alert: Alert;
  shadow: boolean;
}

export type Outcome = { kind: 'duplicate' } | { kind: 'applied'; alerts?: RuleAlert[] };

// Shared outcomes without an alert: no allocation for the common case.
const DUPLICATE: Outcome = Object.freeze({ kind: 'duplicate' });
const APPLIED: Outcome = Object.freeze({ kind: 'applied' });

/** What the rules read of one trade's user, each computed at most once per trade. */
class TradeContext {
  store!: UserStateStore;
  slot = 0;
  ev!: TradeEvent;
  previous = 0;
  private newIp: boolean | undefined;
  private median: number | undefined;
  private sum: number | undefined;
  private readonly scratch: Float64Array;

  constructor(history: number) {
    this.scratch = new Float64Array(history);
  }

  reset(store: UserStateStore, slot: number, ev: TradeEvent): void {
    this.store = store;
    this.slot = slot;
    this.ev = ev;
    this.previous = store.tradeCount(slot);
    this.newIp = undefined;
    this.median = undefined;
    this.sum = undefined;
  }

  isNewIp(): boolean {
    return (this.newIp ??= this.store.isNewIp(this.slot));
  }

  medianAmount(): number {
    return (this.median ??= this.store.medianAmount(this.slot, this.scratch));
  }

  sumAmounts(): number {
    return (this.sum ??= this.store.sumAmounts(this.slot));
  }

  alert(def: RuleDefinition, baseline: number, now: number): Alert {
    const { ev, store, slot } = this;
    return {
      alertId: deriveAlertId(def.ruleId, ev.eventId),
      rule: def.ruleId,
      ruleVersion: def.version,
      userId: ev.userId,
      tradeEventId: ev.eventId,
      tradeTs: ev.ts,
      amount: ev.amount,
      baseline,
      factor: ev.amount / baseline,
      ip: store.sessionIpOf(slot) ?? '',
      knownIps: store.knownIps(slot),
      previousTrades: this.previous,
      gameServerId: ev.gameServerId,
      detectedAt: now,
    };
  }
}

const largeTrade = (
  p: LargeTradeParams,
  t: TradeContext,
  def: RuleDefinition,
  now: number,
): Alert | undefined => {
  const o = p.currencies[t.ev.currency];
  const minTrades = o?.minTrades ?? p.minTrades;
  const amountFactor = o?.amountFactor ?? p.amountFactor;
  const minAmount = o?.minAmount ?? p.minAmount;
  if (t.previous < minTrades || t.ev.amount < minAmount || !t.isNewIp()) return undefined;
  const baseline = t.medianAmount();
  return t.ev.amount > amountFactor * baseline ? t.alert(def, baseline, now) : undefined;
};

const drain = (p: DrainParams, t: TradeContext, def: RuleDefinition, now: number): Alert | undefined => {
  if (t.previous < p.minTrades || t.ev.amount < p.minAmount) return undefined;
  if (p.requireNewIp && !t.isNewIp()) return undefined;
  const recent = t.sumAmounts();
  return t.ev.amount >= p.minShare * (recent + t.ev.amount) ? t.alert(def, recent, now) : undefined;
};

/** A version's verdict on the trade in `t`: its alert, or undefined. */
const evaluateRule = (def: RuleDefinition, t: TradeContext, now: number): Alert | undefined =>
  def.type === 'large-trade-new-ip' ? largeTrade(def.params, t, def, now) : drain(def.params, t, def, now);

export class RuleEngine {
  private readonly book: RuleBook;
  private readonly trade: TradeContext;
  private readonly hash = new Uint32Array(2);
  private ruleIds: string[] = [];
  private generation = -1;

  constructor(book: RuleBook, history: number) {
    this.book = book;
    this.trade = new TradeContext(history);
  }

  apply(store: UserStateStore, ev: GameEvent, now: number): Outcome {
    const slot = store.slot(ev.userId);
    hashEventIdParts(ev.eventId, this.hash);
    const low = this.hash[0]!;
    const high = this.hash[1]!;
    if (store.hasSeen(slot, low, high)) return DUPLICATE;
    store.markSeen(slot, low, high);

    if (ev.type === 'login') {
      store.login(slot, ev.ip);
      return APPLIED;
    }
    if (this.generation !== this.book.generation) {
      this.ruleIds = this.book.ruleIds();
      this.generation = this.book.generation;
    }
    const t = this.trade;
    t.reset(store, slot, ev);
    let alerts: RuleAlert[] | undefined;
    for (const ruleId of this.ruleIds) {
      const { active, shadow } = this.book.applicable(ruleId, ev.ts);
      const a = active === undefined ? undefined : evaluateRule(active, t, now);
      if (a !== undefined) (alerts ??= []).push({ alert: a, shadow: false });
      const s = shadow === undefined ? undefined : evaluateRule(shadow, t, now);
      if (s !== undefined) (alerts ??= []).push({ alert: s, shadow: true });
    }
    store.addTrade(slot, ev.amount);
    return alerts === undefined ? APPLIED : { kind: 'applied', alerts };
  }
}
