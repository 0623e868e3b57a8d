// The detection rule `large-trade-new-ip` (docs/analysts.md, "The detection rule"), applied to one event at a time against the
// user state store. Pure: no I/O; the clock is passed in.
import { deriveAlertId, RULE_ID, RULE_VERSION, type Alert } from '@tradewatch/shared/alerts';
import type { GameEvent } from '@tradewatch/shared/events';
import { hashEventIdParts, type UserStateStore } from './user-state-store.ts';

export interface RuleParams {
  history: number;
  minTrades: number;
  amountFactor: number;
}

export const DEFAULT_RULE_PARAMS: RuleParams = Object.freeze({ history: 20, minTrades: 5, amountFactor: 3 });

export type Outcome = { kind: 'duplicate' } | { kind: 'applied'; alert?: Alert };

// Shared outcomes without an alert: no allocation for the common case.
const DUPLICATE: Outcome = Object.freeze({ kind: 'duplicate' });
const APPLIED: Outcome = Object.freeze({ kind: 'applied' });

export class LargeTradeDetector {
  private readonly params: RuleParams;
  private readonly scratch: Float64Array;
  private readonly hash = new Uint32Array(2);

  constructor(params: RuleParams) {
    this.params = params;
    this.scratch = new Float64Array(params.history);
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

    const previous = store.tradeCount(slot);
    let alert: Alert | undefined;
    if (previous >= this.params.minTrades && store.isNewIp(slot)) {
      const baseline = store.medianAmount(slot, this.scratch);
      if (ev.amount > this.params.amountFactor * baseline) {
        alert = {
          alertId: deriveAlertId(RULE_ID, ev.eventId),
          rule: RULE_ID,
          ruleVersion: RULE_VERSION,
          userId: ev.userId,
          tradeEventId: ev.eventId,
          tradeTs: ev.ts,
          amount: ev.amount,
          baseline,
          factor: ev.amount / baseline,
          ip: store.sessionIpOf(slot)!,
          knownIps: store.knownIps(slot),
          previousTrades: previous,
          gameServerId: ev.gameServerId,
          detectedAt: now,
        };
      }
    }
    store.addTrade(slot, ev.amount);
    return alert === undefined ? APPLIED : { kind: 'applied', alert };
  }
}
