// The feed's filters: what the analyst typed, the query that re-reads history with them, and the
// same test applied to live alerts in the browser. Pure.
import type { DeskAlert, LabelValue } from '../../src/api-types.ts';
import type { AlertsQuery } from './api.ts';

export type LabelFilter = '' | 'unlabelled' | LabelValue;

/** As typed in the inputs; empty means "any". */
export interface FeedFilters {
  userId: string;
  gameServerId: string;
  label: LabelFilter;
  minAmount: string;
  maxAmount: string;
}

export const NO_FILTERS: FeedFilters = {
  userId: '',
  gameServerId: '',
  label: '',
  minAmount: '',
  maxAmount: '',
};

/** A finite number, or null for an empty or unreadable input (which then does not filter). */
export const parseAmount = (text: string): number | null => {
  const trimmed = text.trim().replaceAll(',', '');
  if (trimmed === '') return null;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : null;
};

export const toAlertsQuery = (f: FeedFilters, limit: number): AlertsQuery => {
  const query: AlertsQuery = { limit };
  const minAmount = parseAmount(f.minAmount);
  const maxAmount = parseAmount(f.maxAmount);
  if (f.userId.trim() !== '') query.userId = f.userId.trim();
  if (f.gameServerId.trim() !== '') query.gameServerId = f.gameServerId.trim();
  if (f.label !== '') query.label = f.label;
  if (minAmount !== null) query.minAmount = minAmount;
  if (maxAmount !== null) query.maxAmount = maxAmount;
  return query;
};

/** The filters on what an alert never changes: user, game server, amount. */
export const matchesFixedFields = (alert: DeskAlert, f: FeedFilters): boolean => {
  const userId = f.userId.trim();
  const gameServerId = f.gameServerId.trim();
  const minAmount = parseAmount(f.minAmount);
  const maxAmount = parseAmount(f.maxAmount);
  return (
    (userId === '' || alert.userId === userId) &&
    (gameServerId === '' || alert.gameServerId === gameServerId) &&
    (minAmount === null || alert.amount >= minAmount) &&
    (maxAmount === null || alert.amount <= maxAmount)
  );
};

/** The label filter, on the current label (labels[0]), which changes while the alert is shown. */
export const matchesLabel = (alert: DeskAlert, label: LabelFilter): boolean => {
  if (label === '') return true;
  const current = alert.labels[0]?.label;
  return label === 'unlabelled' ? current === undefined : current === label;
};

/** Every filter: what the feed holds. */
export const matchesFilters = (alert: DeskAlert, f: FeedFilters): boolean =>
  matchesFixedFields(alert, f) && matchesLabel(alert, f.label);

export const hasFilters = (f: FeedFilters): boolean =>
  f.userId.trim() !== '' ||
  f.gameServerId.trim() !== '' ||
  f.label !== '' ||
  parseAmount(f.minAmount) !== null ||
  parseAmount(f.maxAmount) !== null;

export const sameFilters = (a: FeedFilters, b: FeedFilters): boolean =>
  a.userId === b.userId &&
  a.gameServerId === b.gameServerId &&
  a.label === b.label &&
  a.minAmount === b.minAmount &&
  a.maxAmount === b.maxAmount;
