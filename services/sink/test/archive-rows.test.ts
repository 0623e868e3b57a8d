// Record → row mapping: exact money, every column written, alerts' Kafka coordinates, labels, and
// the reasons a record has no row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId, encodeAlert, RULE_ID, type Alert } from '@tradewatch/shared/alerts';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { encodeLabel, type AlertLabel } from '@tradewatch/shared/labels';
import { encodeRule, SEED_RULE } from '@tradewatch/shared/rules';
import {
  checkAlert,
  encodeAlertRow,
  encodeEventRow,
  encodeLabelRow,
  mapRecord,
  microsText,
  toMicros,
  type MappedRecord,
} from '../src/archive-rows.ts';

const at = { partition: 4, offset: 9007199254740991 };

test('toMicros reads the decimal the producer wrote, not the binary double', () => {
  const cases: [number, bigint][] = [
    [0.1, 100000n],
    [0.3, 300000n],
    [1.005, 1005000n],
    [12.345678, 12345678n],
    [999999999999.99, 999999999999990000n],
    [1e12, 1000000000000000000n],
    [0.000001, 1n],
    [1e-7, 0n],
    [0.0000005, 0n], // half to even
    [0.0000015, 2n],
    [0.0000025, 2n],
    [0.00000251, 3n],
    [2500.5, 2500500000n],
    [-3.25, -3250000n],
    [0, 0n],
  ];
  for (const [amount, micros] of cases) {
    assert.equal(toMicros(amount), micros, String(amount));
    // The fast text path agrees with the exact one everywhere.
    assert.equal(microsText(amount), micros.toString(), String(amount));
  }
  for (let i = 0; i < 20000; i++) {
    const amount = Math.round(Math.random() * 10 ** (1 + (i % 12))) / 10 ** (i % 9);
    assert.equal(microsText(amount), toMicros(amount).toString(), String(amount));
  }
  assert.throws(() => toMicros(Number.NaN), RangeError);
  assert.throws(() => toMicros(1e13), RangeError);
});

const trade: GameEvent = {
  eventId: 'e-1',
  type: 'trade',
  userId: 'Zoë "the" trader\\',
  ts: 1700000000123,
  amount: 999999999999.99,
  currency: 'gems',
  itemId: 'sword',
  counterpartyId: 'u-2',
  ip: '2001:db8::1',
  gameServerId: 'gs-1',
  receivedAt: 1700000000456,
};

test('an event row has every column, in order, with exact integers', () => {
  const row = encodeEventRow(trade);
  assert.deepEqual(Object.keys(JSON.parse(row) as object), [
    'eventId',
    'type',
    'userId',
    'tsMs',
    'ip',
    'amountMicros',
    'currency',
    'itemId',
    'counterpartyId',
    'gameServerId',
    'receivedAtMs',
    'kafkaPartition',
    'kafkaOffset',
  ]);
  assert.match(row, /"amountMicros":999999999999990000,/);
  assert.deepEqual(JSON.parse(row), {
    eventId: 'e-1',
    type: 'trade',
    userId: 'Zoë "the" trader\\',
    tsMs: 1700000000123,
    ip: '2001:db8::1',
    amountMicros: 999999999999990000,
    currency: 'gems',
    itemId: 'sword',
    counterpartyId: 'u-2',
    gameServerId: 'gs-1',
    receivedAtMs: 1700000000456,
    kafkaPartition: 0,
    kafkaOffset: 0,
  });
  assert.match(encodeEventRow(trade, { partition: 3, offset: 77 }), /"kafkaPartition":3,"kafkaOffset":77\}$/);
});

test('a login row writes the zero values of the trade-only columns', () => {
  const login: GameEvent = {
    eventId: 'l',
    type: 'login',
    userId: 'u',
    ts: 1,
    ip: '10.0.0.1',
    gameServerId: 'g',
    receivedAt: 2,
  };
  assert.deepEqual(JSON.parse(encodeEventRow(login)), {
    eventId: 'l',
    type: 'login',
    userId: 'u',
    tsMs: 1,
    ip: '10.0.0.1',
    amountMicros: 0,
    currency: '',
    itemId: '',
    counterpartyId: '',
    gameServerId: 'g',
    receivedAtMs: 2,
    kafkaPartition: 0,
    kafkaOffset: 0,
  });
});

const alert: Alert = {
  alertId: deriveAlertId(RULE_ID, 'e-1'),
  rule: RULE_ID,
  ruleVersion: 1,
  userId: 'u',
  tradeEventId: 'e-1',
  tradeTs: 1700000000123,
  amount: 500.5,
  baseline: 100.125,
  factor: 4.998751560549313,
  ip: '192.0.2.1',
  knownIps: ['10.0.0.1', "it's"],
  previousTrades: 7,
  gameServerId: 'gs',
  detectedAt: 1700000001000,
};

test('an alert row has every column, knownIps as an array, money in micro-units, its Kafka coordinates', () => {
  const row = encodeAlertRow(alert, at);
  // The largest exact offset is written as a bare integer (JSON.parse would round it).
  assert.match(row, /,"kafkaPartition":4,"kafkaOffset":9007199254740991\}$/);
  assert.deepEqual(JSON.parse(row), {
    alertId: alert.alertId,
    rule: RULE_ID,
    ruleVersion: 1,
    userId: 'u',
    tradeEventId: 'e-1',
    tradeTsMs: 1700000000123,
    amountMicros: 500500000,
    baselineMicros: 100125000,
    factor: 4.998751560549313,
    ip: '192.0.2.1',
    knownIps: ['10.0.0.1', "it's"],
    previousTrades: 7,
    gameServerId: 'gs',
    detectedAtMs: 1700000001000,
    kafkaPartition: 4,
    kafkaOffset: 9007199254740991,
  });
});

test('checkAlert names every bad field and ignores unknown ones', () => {
  assert.equal(checkAlert({ ...alert, extra: 1 }).ok, true);
  const bad = checkAlert({ ...alert, knownIps: 'x', tradeTs: -1, amount: 'big', alertId: '' });
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.detail : '', /\/alertId: .*\/tradeTs: .*\/amount: .*\/knownIps: /);
  assert.equal(checkAlert([]).ok, false);
  assert.equal(checkAlert(null).ok, false);
});

const reason = (r: MappedRecord) => (r.ok ? 'ok' : r.reason);

test('mapRecord: rows for valid records, a reason for every other', () => {
  const ok = mapRecord('events', Buffer.from(trade.userId), Buffer.from(encodeEvent(trade)), at);
  assert.deepEqual(ok, { ok: true, id: 'e-1', row: encodeEventRow(trade, at) });
  assert.deepEqual(mapRecord('alerts', Buffer.from('u'), Buffer.from(encodeAlert(alert)), at), {
    ok: true,
    id: alert.alertId,
    row: encodeAlertRow(alert, at),
  });
  assert.equal(reason(mapRecord('events', Buffer.from('u'), Buffer.from('{nope'), at)), 'not_json');
  assert.equal(reason(mapRecord('events', Buffer.from('u'), null, at)), 'invalid_event');
  assert.equal(
    reason(
      mapRecord('events', Buffer.from(trade.userId), Buffer.from(encodeEvent({ ...trade, amount: -1 })), at),
    ),
    'invalid_event',
  );
  assert.equal(
    reason(mapRecord('events', Buffer.from('other'), Buffer.from(encodeEvent(trade)), at)),
    'key_mismatch',
  );
  assert.equal(reason(mapRecord('alerts', null, Buffer.from('[1]'), at)), 'invalid_alert');
  assert.equal(reason(mapRecord('alerts', null, Buffer.from('{'), at)), 'not_json');
  assert.equal(reason(mapRecord('alerts', null, null, at)), 'invalid_alert');
});

const label: AlertLabel = {
  alertId: alert.alertId,
  label: 'false_positive',
  note: 'known VPN; "travelling" \\ fine\nsecond line',
  author: 'Zoë',
  labelledAt: 1700000002345,
};

test('a label row has every column, in order; the time stays epoch ms', () => {
  const row = encodeLabelRow(label);
  assert.deepEqual(Object.keys(JSON.parse(row) as object), [
    'alertId',
    'label',
    'note',
    'author',
    'labelledAtMs',
  ]);
  assert.deepEqual(JSON.parse(row), {
    alertId: label.alertId,
    label: 'false_positive',
    note: label.note,
    author: 'Zoë',
    labelledAtMs: 1700000002345,
  });
  const key = Buffer.from(label.alertId);
  assert.deepEqual(mapRecord('labels', key, Buffer.from(encodeLabel(label)), at), {
    ok: true,
    id: label.alertId,
    row,
  });
});

test('label records that fail the contract, the archive or the key have a reason', () => {
  const key = Buffer.from(label.alertId);
  const map = (value: unknown, k: Buffer | null = key) =>
    mapRecord('labels', k, value === null ? null : Buffer.from(JSON.stringify(value)), at);
  assert.equal(reason(mapRecord('labels', key, Buffer.from('{"alertId":'), at)), 'not_json');
  assert.equal(reason(mapRecord('labels', key, null, at)), 'invalid_label');
  assert.equal(reason(map({ ...label, label: 'fraud' })), 'invalid_label');
  assert.equal(reason(map({ ...label, author: '' })), 'invalid_label');
  assert.equal(reason(map({ ...label, labelledAt: 1.5 })), 'invalid_label');
  assert.equal(reason(map({ ...label, extra: true })), 'invalid_label');
  const { note: _, ...noNote } = label;
  assert.equal(reason(map(noNote)), 'invalid_label');
  // Past what the archive's DateTime holds (year 2106), though the contract's integer allows it.
  const late = map({ ...label, labelledAt: 4294967295000 });
  assert.deepEqual(late, { ok: false, reason: 'invalid_label', detail: '/labelledAt: Expected epoch ms' });
  assert.equal(reason(map(label, Buffer.from('another-alert'))), 'key_mismatch');
  assert.equal(reason(map(label, null)), 'key_mismatch');
  const detail = map({ ...label, label: 'fraud' });
  assert.match(detail.ok ? '' : detail.detail, /\/label/);
});

test('rule records become rule_versions rows keyed by rule and version; shadow alerts map as alerts', () => {
  const v2 = {
    ...SEED_RULE,
    version: 2,
    mode: 'shadow' as const,
    params: { ...SEED_RULE.params, amountFactor: 4 },
  };
  const mapped = mapRecord('rules', Buffer.from(SEED_RULE.ruleId), Buffer.from(encodeRule(v2)), at);
  assert.ok(mapped.ok);
  assert.equal(mapped.id, 'large-trade-new-ip/2');
  assert.deepEqual(JSON.parse(mapped.row), {
    ruleId: 'large-trade-new-ip',
    version: 2,
    type: 'large-trade-new-ip',
    mode: 'shadow',
    params: JSON.stringify(v2.params),
    effectiveFromMs: 0,
    author: 'tradewatch',
    reason: SEED_RULE.reason,
    createdAtMs: 0,
  });
  assert.equal(
    reason(mapRecord('rules', Buffer.from('other'), Buffer.from(encodeRule(v2)), at)),
    'key_mismatch',
  );
  assert.equal(reason(mapRecord('rules', Buffer.from(SEED_RULE.ruleId), Buffer.from('{'), at)), 'not_json');
  const bad = mapRecord(
    'rules',
    Buffer.from(SEED_RULE.ruleId),
    Buffer.from(JSON.stringify({ ...v2, mode: 'loud' })),
    at,
  );
  assert.deepEqual(bad, {
    ok: false,
    reason: 'invalid_rule',
    detail: '/mode: expected one of active, shadow, disabled',
  });
  assert.deepEqual(mapRecord('shadow', Buffer.from('u'), Buffer.from(encodeAlert(alert)), at), {
    ok: true,
    id: alert.alertId,
    row: encodeAlertRow(alert, at),
  });
});
