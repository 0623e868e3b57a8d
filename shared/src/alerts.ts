// The alert contract (SPEC §5) and its codec. Pure: no I/O.
import { createHash } from 'node:crypto';

export const RULE_ID = 'large-trade-new-ip';
export const RULE_VERSION = 1;

export interface Alert {
  alertId: string;
  rule: typeof RULE_ID;
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

export const decodeAlert = (value: Buffer | string): Alert => JSON.parse(value.toString()) as Alert;
