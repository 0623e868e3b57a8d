// The alert contract (docs/analysts.md, "Alerts") and its codec: what the processor writes and what every reader
// (the sink, the fraud desk) accepts. Pure: no I/O.
import { createHash } from 'node:crypto';
import { TradewatchError } from './errors.ts';

/** The seed rule's id and version (shared/src/rules.ts): what alerts carried before rules were data. */
export const RULE_ID = 'large-trade-new-ip';
export const RULE_VERSION = 1;

export interface Alert {
  alertId: string;
  /** The id of the rule that raised it (a rule id of the `rules` topic). */
  rule: string;
  ruleVersion: number;
  userId: string;
  tradeEventId: string;
  tradeTs: number;
  amount: number;
  baseline: number;
  factor: number;
  ip: string;
  knownIps: string[];
  previousTrades: number;
  gameServerId: string;
  detectedAt: number;
}

// A fixed namespace so that alert ids are name-based UUIDs (RFC 9562 v5) of rule and trade.
const ALERT_NAMESPACE = Buffer.from('5b3f4c1e8a2d4e6f9b7c0d1e2f3a4b5c', 'hex');

/** The alert id of a rule firing on a trade: the same inputs always give the same id. */
export const deriveAlertId = (rule: string, tradeEventId: string): string => {
  const h = createHash('sha1').update(ALERT_NAMESPACE).update(`${rule}\u0000${tradeEventId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export const encodeAlert = (alert: Alert): string => JSON.stringify(alert);

// What an alert's fields may hold: what the archive's columns can store (DateTime up to 2106,
// money as Int64 micro-units, UInt16 rule version, UInt32 trade count).
const MAX_EPOCH_MS = 4294967295000;
const MAX_MONEY = 9.2e12;

type Check = (v: unknown) => string | undefined;
const nonEmptyString: Check = (v) =>
  typeof v === 'string' && v.length > 0 && v.length <= 1024 ? undefined : 'Expected a string of 1-1024 chars';
const anyString: Check = (v) => (typeof v === 'string' && v.length <= 1024 ? undefined : 'Expected a string');
const uint =
  (max: number): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max
      ? undefined
      : `Expected an integer 0-${max}`;
const epochMs: Check = (v) =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_EPOCH_MS
    ? undefined
    : 'Expected epoch ms';
const money: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_MONEY ? undefined : 'Expected an amount';
const finite: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) ? undefined : 'Expected a finite number';
const ipList: Check = (v) =>
  Array.isArray(v) && v.length <= 10000 && v.every((x) => anyString(x) === undefined)
    ? undefined
    : 'Expected an array of strings';

const ALERT_FIELDS: Record<keyof Alert, Check> = {
  alertId: nonEmptyString,
  rule: nonEmptyString,
  ruleVersion: uint(65535),
  userId: nonEmptyString,
  tradeEventId: nonEmptyString,
  tradeTs: epochMs,
  amount: money,
  baseline: money,
  factor: finite,
  ip: anyString,
  knownIps: ipList,
  previousTrades: uint(4294967295),
  gameServerId: anyString,
  detectedAt: epochMs,
};

/**
 * Checks a parsed alert: every field of the contract present with a value the archive can hold.
 * Fields it does not know are ignored: a newer processor may add some before readers know them.
 */
export const checkAlert = (raw: unknown): { ok: true; alert: Alert } | { ok: false; detail: string } => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, detail: '/: Expected an object' };
  const rec = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, check] of Object.entries(ALERT_FIELDS)) {
    const problem = check(rec[field]);
    if (problem !== undefined) problems.push(`/${field}: ${problem}`);
  }
  return problems.length > 0 ? { ok: false, detail: problems.join('; ') } : { ok: true, alert: raw as Alert };
};

export type DecodedAlert =
  { ok: true; alert: Alert } | { ok: false; reason: 'not_json' | 'invalid_alert'; detail: string };

/** Decodes and checks one `alerts` record value. */
export const decodeAlertRecord = (value: Buffer | string | null): DecodedAlert => {
  if (value === null) return { ok: false, reason: 'invalid_alert', detail: 'record has no value' };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message };
  }
  const checked = checkAlert(raw);
  return checked.ok ? checked : { ok: false, reason: 'invalid_alert', detail: checked.detail };
};

/** decodeAlertRecord that throws ALERT_INVALID with the problem. */
export const decodeAlert = (value: Buffer | string): Alert => {
  const decoded = decodeAlertRecord(value);
  if (!decoded.ok) throw new TradewatchError('ALERT_INVALID', `alert record: ${decoded.detail}`);
  return decoded.alert;
};
