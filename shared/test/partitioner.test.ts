// partitionForKey must put a user where the gateway's producer puts the user's events, or a
// reader asks the wrong processor: Kafka's own murmur2 vectors, and the producers' partitioner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { producerPartitionForKey } from '../src/kafka-client.ts';
import { murmur2, partitionForKey, toPositive } from '../src/partitioner.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

test('murmur2 gives the Java client vectors (Kafka UtilsTest.testMurmur2)', () => {
  const cases: [Uint8Array, number][] = [
    [utf8('21'), -973932308],
    [utf8('foobar'), -790332482],
    [utf8('a-little-bit-long-string'), -985981536],
    [utf8('a-little-bit-longer-string'), -1486304829],
    [utf8('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
    [new Uint8Array([0x61, 0x62, 0x63]), 479470107],
  ];
  for (const [bytes, expected] of cases)
    assert.equal(murmur2(bytes), expected, new TextDecoder().decode(bytes));
});

test('toPositive clears the sign bit, as Utils.toPositive', () => {
  assert.equal(toPositive(-973932308), -973932308 & 0x7fffffff);
  assert.equal(toPositive(-2147483648), 0);
  assert.equal(toPositive(-1), 2147483647);
  assert.equal(toPositive(5), 5);
  // "foobar" over 50 partitions: 16 with toPositive, 32 with Math.abs (which would be wrong).
  assert.equal(partitionForKey('foobar', 50), 16);
});

const keyArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), // lone surrogates too
  fc.constantFrom('player-0000042', 'joueur-éàü', '玩家-七', 'игрок', '🎮-user', '\u{10FFFF}', 'a'),
);

test("partitionForKey agrees with the producers' partitioner on random keys, ASCII or not", () => {
  let nonAscii = 0;
  fc.assert(
    fc.property(keyArb, fc.integer({ min: 1, max: 64 }), (key, partitions) => {
      if ([...key].some((c) => c.codePointAt(0)! > 0x7f)) nonAscii++;
      assert.equal(partitionForKey(key, partitions), producerPartitionForKey(key, partitions), key);
    }),
    { numRuns: 5000 },
  );
  assert.ok(nonAscii > 1000, `non-ASCII keys were tried (${nonAscii})`);
});

test('partition counts must be positive integers', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => partitionForKey('u', bad), RangeError);
  assert.equal(partitionForKey('anything', 1), 0);
});
