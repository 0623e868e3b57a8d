// Packing fetched records, mapping a chunk to rows, and addressing rows across chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { encodeEventRow } from '../src/archive-rows.ts';
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
const rec = (e: GameEvent, offset: number) => ({
  key: Buffer.from(e.userId),
  value: Buffer.from(encodeEvent(e)),
  offset: String(offset),
});

test('packRecords keeps keys, values (null too) and offsets', () => {
  const c = packRecords([
    { key: Buffer.from('k1'), value: Buffer.from('v1'), offset: '10' },
    { key: null, value: Buffer.from(''), offset: '11' },
    { key: Buffer.from(''), value: null, offset: '9007199254740991' },
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
    { key: Buffer.from('x'), value: Buffer.from('{'), offset: '1' },
    rec(ev(2), 2),
    rec(ev(3, 'plain'), 3),
  ];
  const m = mapChunk('events', packRecords(records));
  assert.deepEqual([...m.rowRecord], [0, 2, 3]);
  assert.deepEqual(
    m.failures.map((f) => [f.record, f.reason]),
    [[1, 'not_json']],
  );
  const body = Buffer.from(m.body).toString('utf8');
  assert.equal(body, `${[ev(0), ev(2), ev(3, 'plain')].map(encodeEventRow).join('\n')}\n`);
  assert.equal(m.rowEnds[2], m.body.length);
  assert.equal(
    Buffer.from(m.body.subarray(m.rowEnds[0], m.rowEnds[1])).toString(),
    `${encodeEventRow(ev(2))}\n`,
  );
});

test('ChunkedRows addresses rows across chunks and slices their bodies without copying', () => {
  const a = mapChunk('events', packRecords([0, 1, 2].map((i) => rec(ev(i), i))));
  const b = mapChunk('events', packRecords([]));
  const c = mapChunk('events', packRecords([3, 4].map((i) => rec(ev(i), i))));
  const rows = new ChunkedRows([a, b, c]);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.locate(0), { chunk: 0, local: 0 });
  assert.deepEqual(rows.locate(3), { chunk: 2, local: 0 });
  assert.deepEqual(rows.locate(4), { chunk: 2, local: 1 });
  const text = (from: number, to: number) => Buffer.concat(rows.pieces(from, to)).toString();
  const line = (i: number) => `${encodeEventRow(ev(i))}\n`;
  assert.equal(text(0, 5), [0, 1, 2, 3, 4].map(line).join(''));
  assert.equal(text(2, 4), line(2) + line(3));
  assert.equal(text(4, 5), line(4));
  assert.equal(text(3, 3), '');
  assert.equal(rows.text(1), encodeEventRow(ev(1)));
});

test('the worker pool maps exactly like the main thread', async () => {
  const chunk = packRecords([
    ...Array.from({ length: 50 }, (_, i) => rec(ev(i), i)),
    { key: null, value: null, offset: '50' },
  ]);
  const mapper = createRecordMapper(2);
  try {
    const [x, y] = await Promise.all([mapper.map('events', chunk), mapper.map('events', chunk)]);
    const inline = mapChunk('events', chunk);
    for (const m of [x, y]) {
      assert.deepEqual(Buffer.from(m.body), Buffer.from(inline.body));
      assert.deepEqual([...m.rowEnds], [...inline.rowEnds]);
      assert.deepEqual([...m.rowRecord], [...inline.rowRecord]);
      assert.deepEqual(m.failures, inline.failures);
    }
  } finally {
    await mapper.close();
  }
});
