// Record → row mapping: exact money, every column written, the reasons a record has no row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId, encodeAlert, RULE_ID, type Alert } from '@tradewatch/shared/alerts';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import {
  checkAlert,
  encodeAlertRow,
  encodeEventRow,
  mapRecord,
  microsText,
  toMicros,
} from '../src/archive-rows.ts';

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
  });
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

test('an alert row has every column, knownIps as an array, money in micro-units', () => {
  assert.deepEqual(JSON.parse(encodeAlertRow(alert)), {
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

test('mapRecord: rows for valid records, a reason for every other', () => {
  const ok = mapRecord('events', Buffer.from(trade.userId), Buffer.from(encodeEvent(trade)));
  assert.deepEqual(ok, { ok: true, id: 'e-1', row: encodeEventRow(trade) });
  assert.equal(mapRecord('alerts', Buffer.from('u'), Buffer.from(encodeAlert(alert))).ok, true);
  const reason = (r: ReturnType<typeof mapRecord>) => (r.ok ? 'ok' : r.reason);
  assert.equal(reason(mapRecord('events', Buffer.from('u'), Buffer.from('{nope'))), 'not_json');
  assert.equal(reason(mapRecord('events', Buffer.from('u'), null)), 'invalid_event');
  assert.equal(
    reason(
      mapRecord('events', Buffer.from(trade.userId), Buffer.from(encodeEvent({ ...trade, amount: -1 }))),
    ),
    'invalid_event',
  );
  assert.equal(
    reason(mapRecord('events', Buffer.from('other'), Buffer.from(encodeEvent(trade)))),
    'key_mismatch',
  );
  assert.equal(reason(mapRecord('alerts', null, Buffer.from('[1]'))), 'invalid_alert');
  assert.equal(reason(mapRecord('alerts', null, Buffer.from('{'))), 'not_json');
  assert.equal(reason(mapRecord('alerts', null, null)), 'invalid_alert');
});
