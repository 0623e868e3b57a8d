// The broker watch's pure parts: the ApiVersions question it asks, reading answers that arrive
// in pieces, broker addresses, and the order in which brokers are asked for metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiVersionsRequest, bootstrapOrder, parseBroker, readResponses } from '../src/kafka-broker-watch.ts';

test('the question is an ApiVersions v0 request with a size prefix, a correlation id and a client id', () => {
  const r = apiVersionsRequest(7, 'ab');
  assert.deepEqual([...r], [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, 97, 98]);
});

test('answers are read whole, across chunks, and a partial one is kept for later', () => {
  const answer = (id: number, body: number[]) => {
    const b = Buffer.alloc(8 + body.length);
    b.writeInt32BE(4 + body.length, 0);
    b.writeInt32BE(id, 4);
    Buffer.from(body).copy(b, 8);
    return b;
  };
  const two = Buffer.concat([answer(1, [0, 0]), answer(2, [1, 2, 3])]);
  assert.deepEqual(readResponses(two).correlationIds, [1, 2]);
  assert.equal(readResponses(two).rest.length, 0);
  const first = readResponses(two.subarray(0, 13));
  assert.deepEqual(first.correlationIds, [1]);
  assert.equal(first.rest.length, 3);
  const rest = readResponses(Buffer.concat([first.rest, two.subarray(13)]));
  assert.deepEqual(rest.correlationIds, [2]);
  assert.deepEqual(readResponses(Buffer.alloc(5)).correlationIds, []);
});

test('broker addresses are host:port, IPv6 in brackets, and anything else is refused', () => {
  assert.deepEqual(parseBroker('127.0.0.1:9092'), { host: '127.0.0.1', port: 9092 });
  assert.deepEqual(parseBroker(' kafka-1:19092 '), { host: 'kafka-1', port: 19092 });
  assert.deepEqual(parseBroker('[::1]:9092'), { host: '::1', port: 9092 });
  assert.throws(() => parseBroker('kafka-1'), /host:port/);
});

test('brokers are asked in turn, silent ones last', () => {
  const list = ['a', 'b', 'c'];
  const none = () => false;
  assert.deepEqual(bootstrapOrder(list, 0, none), ['a', 'b', 'c']);
  assert.deepEqual(bootstrapOrder(list, 1, none), ['b', 'c', 'a']);
  assert.deepEqual(bootstrapOrder(list, 5, none), ['c', 'a', 'b']);
  assert.deepEqual(
    bootstrapOrder(list, 0, (b) => b === 'a'),
    ['b', 'c', 'a'],
  );
  assert.deepEqual(
    bootstrapOrder(list, 2, (b) => b === 'c'),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    bootstrapOrder(list, 1, () => true),
    ['b', 'c', 'a'],
  );
  assert.deepEqual(bootstrapOrder([], 3, none), []);
});
