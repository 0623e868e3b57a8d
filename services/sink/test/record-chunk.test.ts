// Packing fetched records, mapping a chunk to rows (on the main thread or the worker pool), and
// addressing rows across chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId, encodeAlert, RULE_ID, type Alert } from '@tradewatch/shared/alerts';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { encodeLabel, type AlertLabel } from '@tradewatch/shared/labels';
import { encodeAlertRow, encodeEventRow } from '../src/archive-rows.ts';
import { ChunkedRows, mapChunk, packRecords, recordKey, recordValue } from '../src/record-chunk.ts';
import { createRecordMapper } from '../src/record-mapper.ts';

const ev = (i: number, userId = `ü-${i}`): GameEvent => ({
  eventId: `e-${i}`,
  type: 'login',
  userId,
  ts: 1700000000000 + i,
  ip: '10.0.0.1',
  gameServerId: 'gs',
  receivedAt: 1700000000000 + i,
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
  knownIps: ['10.0.0.1'],
  previousTrades: 7,
  gameServerId: 'gs',
  detectedAt: 1700000001000,
};
const label: AlertLabel = {
  alertId: 'a-0',
  label: 'confirmed_fraud',
  note: 'ünï',
  author: 'analyst-1',
  labelledAt: 1700000002000,
};
const rec = (e: GameEvent, offset: number) => ({
  key: Buffer.from(e.userId),
  value: Buffer.from(encodeEvent(e)),
  offset: offset,
});

test('packRecords keeps keys, values (null too) and offsets', () => {
  const c = packRecords([
    { key: Buffer.from('k1'), value: Buffer.from('v1'), offset: 10 },
    { key: null, value: Buffer.from(''), offset: 11 },
    { key: Buffer.from(''), value: null, offset: 9007199254740991 },
  ]);
  assert.equal(recordKey(c, 0)?.toString(), 'k1');
  assert.equal(recordValue(c, 0)?.toString(), 'v1');
  assert.equal(recordKey(c, 1), null);
  assert.equal(recordValue(c, 1)?.toString(), '');
  assert.equal(recordKey(c, 2)?.toString(), '');
  assert.equal(recordValue(c, 2), null);
  assert.deepEqual([...c.offsets], [10, 11, 9007199254740991]);
});

test('mapChunk: rows (with byte ends, non-ASCII included) and failures by record', () => {
  const records = [
    rec(ev(0), 0),
    { key: Buffer.from('x'), value: Buffer.from('{'), offset: 1 },
    rec(ev(2), 2),
    rec(ev(3, 'plain'), 3),
  ];
  const m = mapChunk('events', packRecords(records), 0);
  assert.deepEqual([...m.rowRecord], [0, 2, 3]);
  assert.deepEqual(
    m.failures.map((f) => [f.record, f.reason]),
    [[1, 'not_json']],
  );
  const body = Buffer.from(m.body).toString('utf8');
  const row = (e: GameEvent, offset: number) => encodeEventRow(e, { partition: 0, offset });
  assert.equal(body, `${[row(ev(0), 0), row(ev(2), 2), row(ev(3, 'plain'), 3)].join('\n')}\n`);
  assert.equal(m.rowEnds[2], m.body.length);
  assert.equal(Buffer.from(m.body.subarray(m.rowEnds[0], m.rowEnds[1])).toString(), `${row(ev(2), 2)}\n`);
});

test('ChunkedRows addresses rows across chunks and slices their bodies without copying', () => {
  const a = mapChunk('events', packRecords([0, 1, 2].map((i) => rec(ev(i), i))), 0);
  const b = mapChunk('events', packRecords([]), 0);
  const c = mapChunk('events', packRecords([3, 4].map((i) => rec(ev(i), i))), 0);
  const rows = new ChunkedRows([a, b, c]);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.locate(0), { chunk: 0, local: 0 });
  assert.deepEqual(rows.locate(3), { chunk: 2, local: 0 });
  assert.deepEqual(rows.locate(4), { chunk: 2, local: 1 });
  const text = (from: number, to: number) => Buffer.concat(rows.pieces(from, to)).toString();
  const line = (i: number) => `${encodeEventRow(ev(i), { partition: 0, offset: i })}\n`;
  assert.equal(text(0, 5), [0, 1, 2, 3, 4].map(line).join(''));
  assert.equal(text(2, 4), line(2) + line(3));
  assert.equal(text(4, 5), line(4));
  assert.equal(text(3, 3), '');
  assert.equal(rows.text(1), encodeEventRow(ev(1), { partition: 0, offset: 1 }));
});

test('alert rows carry the partition and the offset of their own record', () => {
  const alerts = [0, 1, 2].map((i) => ({ ...alert, alertId: `a-${i}` }));
  const m = mapChunk(
    'alerts',
    packRecords([
      { key: Buffer.from('u'), value: Buffer.from(encodeAlert(alerts[0]!)), offset: 41 },
      { key: Buffer.from('u'), value: Buffer.from('{'), offset: 42 },
      { key: Buffer.from('u'), value: Buffer.from(encodeAlert(alerts[1]!)), offset: 45 },
      { key: Buffer.from('u'), value: Buffer.from(encodeAlert(alerts[2]!)), offset: 123456789012 },
    ]),
    2,
  );
  assert.equal(
    Buffer.from(m.body).toString(),
    `${[
      encodeAlertRow(alerts[0]!, { partition: 2, offset: 41 }),
      encodeAlertRow(alerts[1]!, { partition: 2, offset: 45 }),
      encodeAlertRow(alerts[2]!, { partition: 2, offset: 123456789012 }),
    ].join('\n')}\n`,
  );
});

test('the worker pool maps exactly like the main thread, for every kind', async () => {
  const chunks = {
    events: packRecords([
      ...Array.from({ length: 50 }, (_, i) => rec(ev(i), i)),
      { key: null, value: null, offset: 50 },
    ]),
    alerts: packRecords(
      Array.from({ length: 20 }, (_, i) => ({
        key: Buffer.from('u'),
        value: Buffer.from(encodeAlert({ ...alert, alertId: `a-${i}` })),
        offset: 1000 + i,
      })),
    ),
    labels: packRecords(
      Array.from({ length: 20 }, (_, i) => ({
        key: Buffer.from(i === 7 ? 'wrong' : `a-${i}`),
        value: Buffer.from(encodeLabel({ ...label, alertId: `a-${i}`, labelledAt: label.labelledAt + i })),
        offset: i,
      })),
    ),
  } as const;
  const mapper = createRecordMapper(2);
  try {
    for (const kind of ['events', 'alerts', 'labels'] as const) {
      const chunk = chunks[kind];
      const [x, y] = await Promise.all([mapper.map(kind, chunk, 5), mapper.map(kind, chunk, 5)]);
      const inline = mapChunk(kind, chunk, 5);
      assert.ok(inline.rowEnds.length > 0, kind);
      for (const m of [x, y]) {
        assert.deepEqual(Buffer.from(m.body), Buffer.from(inline.body), kind);
        assert.deepEqual([...m.rowEnds], [...inline.rowEnds], kind);
        assert.deepEqual([...m.rowRecord], [...inline.rowRecord], kind);
        assert.deepEqual(m.failures, inline.failures, kind);
      }
    }
    assert.match(
      Buffer.from((await mapper.map('alerts', chunks.alerts, 5)).body).toString(),
      /"kafkaPartition":5,"kafkaOffset":1019\}\n$/,
    );
    assert.deepEqual(
      (await mapper.map('labels', chunks.labels, 5)).failures.map((f) => [f.record, f.reason]),
      [[7, 'key_mismatch']],
    );
  } finally {
    await mapper.close();
  }
});
