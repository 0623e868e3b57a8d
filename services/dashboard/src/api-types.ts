// The fraud desk's JSON API as types: what the server sends and the browser reads. The web UI
// imports this file (types only), so both sides are checked against one definition.
import type { Alert } from '@tradewatch/shared/alerts';
import type { AlertLabel, LabelValue } from '@tradewatch/shared/labels';

export type { Alert } from '@tradewatch/shared/alerts';
export type { AlertLabel, LabelValue } from '@tradewatch/shared/labels';

import type { BacktestReport, BacktestWindow } from '@tradewatch/shared/backtest';
import type { RuleDefinition } from '@tradewatch/shared/rules';

export type { RuleDefinition, RuleMode, RuleType } from '@tradewatch/shared/rules';
export type { BacktestReport } from '@tradewatch/shared/backtest';

/** One rule in `GET /api/rules`: its newest definition and everything about its versions. */
export type RuleView = RuleDefinition & {
  /** Every version, highest first. */
  versions: RuleDefinition[];
  /** The versions in force now (event time = now). */
  inForce: { active: number | null; shadow: number | null };
  /** Alerts archived per version. */
  alerts: { version: number; alerts: number; shadowAlerts: number }[];
};

/** A trade flagged by an active or a shadow version (`GET /api/rules/:ruleId/comparison`). */
export interface ComparedTrade {
  tradeEventId: string;
  userId: string;
  tradeTs: number;
  amount: number;
  /** Versions that flagged it on `alerts` (one, or none). */
  activeVersions: number[];
  /** Shadow versions that flagged it. */
  shadowVersions: number[];
}

/** A backtest started from the desk (`POST /api/backtests`, `GET /api/backtests/:id`). */
export interface BacktestJob {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  author: string;
  createdAt: number;
  rule: unknown;
  window: BacktestWindow;
  progress: { events: number; total: number | null };
  result?: BacktestReport & { ms: number; eventsPerSec: number };
  error?: string;
}

export type Role = 'viewer' | 'analyst' | 'admin';

/** `GET /api/session`, `POST /api/session`. */
export interface SessionInfo {
  name: string;
  role: Role;
  /** Sent back as `x-csrf-token` on every state-changing request made with the session cookie. */
  csrfToken: string;
}

/** An alert as the desk shows it: the alert (docs/analysts.md, "Alerts") and its labels, newest first. */
export interface DeskAlert extends Alert {
  labels: AlertLabel[];
}

/** `GET /api/alerts`. */
export interface AlertsPage {
  alerts: DeskAlert[];
  /**
   * Where the live stream continues this page: pass it as `?cursor=` to `/api/alerts/stream`
   * and every alert committed after the page was read arrives, none twice.
   */
  cursor: string;
}

/** The `label` event of the stream and the 201 answer of `POST /api/alerts/:id/labels`. */
export type LabelEvent = AlertLabel;

/** Where a user's live state lives. */
export type OwnerStatus =
  /** the owning instance answered with its current state */
  | 'running'
  /** the owner is rebuilding the partition's state from its changelog */
  | 'restoring'
  /** the group is rebalancing, or no instance owns the partition right now */
  | 'moving'
  /** an instance owns it but did not answer */
  | 'unreachable';

export interface UserLiveState {
  sessionIp: string | null;
  /** The IPs of the user's last (up to 20) past sessions, oldest first. */
  knownIps: string[];
  /** The amounts of the user's last (up to 20) trades, oldest first. */
  trades: number[];
  /** Median of `trades`; null without trades. */
  median: number | null;
}

export interface ArchivedEvent {
  eventId: string;
  type: 'login' | 'trade';
  ts: number;
  ip: string;
  amount: number | null;
  currency: string;
  itemId: string;
  counterpartyId: string;
  gameServerId: string;
  receivedAt: number;
}

/** `GET /api/users/:userId`. */
export interface UserView {
  userId: string;
  state: UserLiveState | null;
  owner: { partition: number; instance: string | null; status: OwnerStatus; message?: string };
  /** Archived events, newest first (the most recent 200). */
  events: ArchivedEvent[];
  /** Archived and live alerts of the user, newest first. */
  alerts: DeskAlert[];
}

export interface RatePoint {
  /** epoch seconds */
  t: number;
  events: number;
  alerts: number;
}

export interface RulePrecision {
  rule: string;
  alerts: number;
  confirmed: number;
  falsePositive: number;
  needsReview: number;
  /** confirmed / (confirmed + falsePositive); null without verdicts. */
  precision: number | null;
}

/** `GET /api/overview`. */
export interface Overview {
  /** Per-second rates, oldest first, up to the last 5 minutes. */
  live: RatePoint[];
  /** Alerts per hour over the last 24 hours, oldest first (hour as epoch seconds). */
  hourly: { hour: number; alerts: number }[];
  topUsers: { userId: string; alerts: number }[];
  topGameServers: { gameServerId: string; alerts: number }[];
  precision: RulePrecision[];
}

/** Every 4xx/5xx answer. */
export interface ApiError {
  error: string;
  message: string;
}

export const LABELS: readonly LabelValue[] = ['confirmed_fraud', 'false_positive', 'needs_review'];
