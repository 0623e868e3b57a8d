// Turns a Kafka record of `game-events`, `alerts`, `alerts.shadow`, `alert-labels` or `rules` into
// one ClickHouse row,
// serialised as a JSONEachRow line, or into the reason it cannot be archived. Pure: no I/O.
//
// Every column that is not MATERIALIZED or ALIAS is written (18.16 gives an omitted field the
// type's zero value, not its DEFAULT), in the order of the table. Times travel as epoch ms
// (Int64) and money as Int64 micro-units, written as bare JSON integers so that no value passes
// through a double on the way in.
import type { GameEvent } from '@tradewatch/shared/events';
import { decodeEventRecord } from '@tradewatch/shared/event-records';
import { checkAlert, decodeAlertRecord, type Alert } from '@tradewatch/shared/alerts';
import { TradewatchError } from '@tradewatch/shared/errors';
import { decodeLabel, type AlertLabel } from '@tradewatch/shared/labels';
import { decodeRuleRecord, type RuleDefinition } from '@tradewatch/shared/rules';

export type ArchiveKind = 'events' | 'alerts' | 'shadow' | 'labels' | 'rules';

/**
 * Where a record was read from: alert rows keep it (the desk continues the archive from there), and
 * event rows (the backtest replays a user's events in topic order).
 */
export interface RecordSource {
  partition: number;
  offset: number;
}

export type MappedRecord =
  | { ok: true; id: string; row: string }
  | {
      ok: false;
      reason:
        'not_json' | 'invalid_event' | 'invalid_alert' | 'invalid_label' | 'invalid_rule' | 'key_mismatch';
      detail: string;
    };

/** Money is kept as Int64 micro-units: 6 decimal places, |amount| ≤ 9.2e12. */
export const MONEY_SCALE_DIGITS = 6;
const MAX_MONEY = 9.2e12;

/**
 * The exact micro-unit value of a JSON number, read from its shortest decimal representation
 * (what the producer wrote), not from the binary double: 0.1 becomes 100000, never 99999.
 * Digits beyond the sixth decimal place are rounded half to even.
 */
export const toMicros = (amount: number): bigint => {
  if (!Number.isFinite(amount) || Math.abs(amount) > MAX_MONEY) {
    throw new RangeError(`amount ${amount} is not a finite number within ±${MAX_MONEY}`);
  }
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(amount));
  if (!m) throw new RangeError(`cannot read ${amount} as a decimal`);
  const [, sign, int, frac = '', exp = '0'] = m;
  const digits = BigInt(`${int}${frac}`);
  const shift = Number(exp) - frac.length + MONEY_SCALE_DIGITS; // value = digits × 10^(shift − 6)
  let micros: bigint;
  if (shift >= 0) {
    micros = digits * 10n ** BigInt(shift);
  } else {
    const div = 10n ** BigInt(-shift);
    const q = digits / div;
    const rem = (digits % div) * 2n;
    micros = rem > div || (rem === div && q % 2n === 1n) ? q + 1n : q;
  }
  return sign === '-' ? -micros : micros;
};

const SIMPLE_DECIMAL = /^(-?)(\d+)(?:\.(\d{1,6}))?$/;

/**
 * toMicros as decimal text, without BigInt for the usual case (at most six decimal places and
 * no exponent): the digits are only shifted.
 */
export const microsText = (amount: number): string => {
  const m = Math.abs(amount) <= MAX_MONEY ? SIMPLE_DECIMAL.exec(String(amount)) : null;
  if (m === null) return toMicros(amount).toString();
  const [, sign, int, frac = ''] = m;
  const digits = `${int}${frac.padEnd(MONEY_SCALE_DIGITS, '0')}`.replace(/^0+(?=\d)/, '');
  return digits === '0' ? '0' : `${sign}${digits}`;
};

// JSON string literals. JSON.stringify escapes quotes, backslashes, control characters and lone
// surrogates; strings the event contract restricts to safe characters skip it.
const str = (s: string): string => JSON.stringify(s);
/** eventId (`A-Z a-z 0-9 . _ : -`), type and normalised IPs: nothing to escape. */
const safe = (s: string): string => `"${s}"`;

/** Coordinates of a row written outside the topic (tests, benchmarks): as rows archived before them. */
const NO_SOURCE: RecordSource = Object.freeze({ partition: 0, offset: 0 });

/** The `events` row of a validated event (columns of migrations 1 and 8, in order). */
export const encodeEventRow = (ev: GameEvent, source: RecordSource = NO_SOURCE): string => {
  const trade = ev.type === 'trade' ? ev : undefined;
  return (
    `{"eventId":${safe(ev.eventId)},"type":${safe(ev.type)},"userId":${str(ev.userId)},"tsMs":${ev.ts}` +
    `,"ip":${safe(ev.ip ?? '')},"amountMicros":${trade === undefined ? '0' : microsText(trade.amount)}` +
    `,"currency":${str(trade?.currency ?? '')},"itemId":${str(trade?.itemId ?? '')}` +
    `,"counterpartyId":${str(trade?.counterpartyId ?? '')},"gameServerId":${str(ev.gameServerId)}` +
    `,"receivedAtMs":${ev.receivedAt},"kafkaPartition":${source.partition},"kafkaOffset":${source.offset}}`
  );
};

/** The `alerts` row of a checked alert (columns of migrations 2 and 7, in order). */
export const encodeAlertRow = (a: Alert, source: RecordSource): string =>
  `{"alertId":${str(a.alertId)},"rule":${str(a.rule)},"ruleVersion":${a.ruleVersion},"userId":${str(a.userId)}` +
  `,"tradeEventId":${str(a.tradeEventId)},"tradeTsMs":${a.tradeTs},"amountMicros":${microsText(a.amount)}` +
  `,"baselineMicros":${microsText(a.baseline)},"factor":${a.factor},"ip":${str(a.ip)}` +
  `,"knownIps":[${a.knownIps.map(str).join(',')}],"previousTrades":${a.previousTrades}` +
  `,"gameServerId":${str(a.gameServerId)},"detectedAtMs":${a.detectedAt}` +
  `,"kafkaPartition":${source.partition},"kafkaOffset":${source.offset}}`;

/** The `rule_versions` row of a checked definition (columns of migration 10, in order). */
export const encodeRuleRow = (d: RuleDefinition): string =>
  `{"ruleId":${str(d.ruleId)},"version":${d.version},"type":${safe(d.type)},"mode":${safe(d.mode)}` +
  `,"params":${str(JSON.stringify(d.params))},"effectiveFromMs":${d.effectiveFrom},"author":${str(d.author)}` +
  `,"reason":${str(d.reason)},"createdAtMs":${d.createdAt}}`;

/** The `alert_labels` row of a decoded label (columns of migration 6, in order). */
export const encodeLabelRow = (l: AlertLabel): string =>
  `{"alertId":${str(l.alertId)},"label":${safe(l.label)},"note":${str(l.note)},"author":${str(l.author)}` +
  `,"labelledAtMs":${l.labelledAt}}`;

// DateTime (18.16) holds seconds up to 2106: epoch ms must stay below that.
const MAX_EPOCH_MS = 4294967295000;
const epochMs = (v: unknown): string | undefined =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_EPOCH_MS
    ? undefined
    : 'Expected epoch ms';

/** The alert contract's checker (shared/src/alerts.ts), which knows what the table can hold. */
export { checkAlert };

/**
 * Decodes a label with the contract's decoder, then checks what the table needs beyond it: a
 * time the archive's DateTime can hold, and the key the desk writes (the alertId).
 */
const mapLabel = (key: string | null, value: Buffer | null): MappedRecord => {
  if (value === null) return { ok: false, reason: 'invalid_label', detail: 'record has no value' };
  let label: AlertLabel;
  try {
    label = decodeLabel(value);
  } catch (err) {
    // decodeLabel keeps JSON.parse's SyntaxError as the cause; every other problem is the contract's.
    const cause = err instanceof TradewatchError ? err.cause : undefined;
    return cause instanceof SyntaxError
      ? { ok: false, reason: 'not_json', detail: cause.message }
      : { ok: false, reason: 'invalid_label', detail: (err as Error).message };
  }
  const problem = epochMs(label.labelledAt);
  if (problem !== undefined) return { ok: false, reason: 'invalid_label', detail: `/labelledAt: ${problem}` };
  if (key !== label.alertId) {
    return { ok: false, reason: 'key_mismatch', detail: 'record key is not the alertId' };
  }
  return { ok: true, id: label.alertId, row: encodeLabelRow(label) };
};

/** Maps one record of the given topic kind to its archive row, or to the reason it has none. */
export const mapRecord = (
  kind: ArchiveKind,
  key: Buffer | null,
  value: Buffer | null,
  source: RecordSource,
): MappedRecord => mapRecordValue(kind, key === null ? null : key.toString('utf8'), value, source);

/** mapRecord with the key already decoded. */
export const mapRecordValue = (
  kind: ArchiveKind,
  key: string | null,
  value: Buffer | null,
  source: RecordSource,
): MappedRecord => {
  if (kind === 'labels') return mapLabel(key, value);
  if (kind === 'rules') {
    // The same check as every reader of the topic: shared/src/rules.ts.
    const decoded = decodeRuleRecord(key, value);
    if (!decoded.ok) return decoded;
    const d = decoded.definition;
    return { ok: true, id: `${d.ruleId}/${d.version}`, row: encodeRuleRow(d) };
  }
  if (kind === 'events') {
    // The same rule as the processor: shared/src/event-records.ts.
    const decoded = decodeEventRecord(key, value);
    if (!decoded.ok) return decoded;
    return { ok: true, id: decoded.event.eventId, row: encodeEventRow(decoded.event, source) };
  }
  const decoded = decodeAlertRecord(value);
  if (!decoded.ok) return decoded;
  return { ok: true, id: decoded.alert.alertId, row: encodeAlertRow(decoded.alert, source) };
};
