// The one way a value becomes SQL text (shared/src/clickhouse.ts): string escaping, literals of
// every supported type, and the identifier allow-list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isSqlIdentifier,
  sqlIdentifier,
  sqlLiteral,
  sqlString,
  sqlTable,
} from '@tradewatch/shared/clickhouse';

test('sqlString quotes and escapes backslash, quote and control characters', () => {
  assert.equal(sqlString(''), "''");
  assert.equal(sqlString('plain'), "'plain'");
  assert.equal(sqlString("O'Brien"), "'O\\'Brien'");
  assert.equal(sqlString('a\\b'), "'a\\\\b'");
  assert.equal(sqlString("\\'"), "'\\\\\\''");
  assert.equal(sqlString('x\ny\rz\t\0\b\f'), "'x\\ny\\rz\\t\\0\\b\\f'");
  assert.equal(sqlString('ünïcödé 🎮'), "'ünïcödé 🎮'");
});

test('sqlString leaves no unescaped quote: an injection stays inside the literal', () => {
  for (const attack of ["' OR 1=1 --", "\\' OR 1=1 --", "'; DROP TABLE events; --", "\\\\'", "'\\"]) {
    const lit = sqlString(attack);
    assert.ok(lit.startsWith("'") && lit.endsWith("'"));
    const body = lit.slice(1, -1);
    // Reading the body as ClickHouse does (backslash escapes) must end exactly at the closing quote.
    let i = 0;
    while (i < body.length) {
      if (body[i] === '\\') i += 2;
      else {
        assert.notEqual(body[i], "'", `unescaped quote in ${lit}`);
        i++;
      }
    }
    assert.equal(i, body.length);
  }
});

test('sqlLiteral renders numbers, bigints, booleans, null and arrays; refuses non-finite numbers', () => {
  assert.equal(sqlLiteral(42), '42');
  assert.equal(sqlLiteral(-1.5), '-1.5');
  assert.equal(sqlLiteral(1e-7), '1e-7');
  assert.equal(sqlLiteral(9223372036854775807n), '9223372036854775807');
  assert.equal(sqlLiteral(true), '1');
  assert.equal(sqlLiteral(null), 'NULL');
  assert.equal(sqlLiteral(['a', "b'c", 3, [1n]]), "['a', 'b\\'c', 3, [1]]");
  assert.throws(() => sqlLiteral(Number.NaN), /finite/);
  assert.throws(() => sqlLiteral(Infinity), /finite/);
});

test('identifiers pass a strict allow-list and are back-quoted', () => {
  assert.equal(sqlIdentifier('events'), '`events`');
  assert.equal(sqlTable('tradewatch', 'events'), '`tradewatch`.`events`');
  for (const bad of ['', '1abc', 'a-b', 'a.b', 'a`b', 'a b', "a'b", 'x'.repeat(200)]) {
    assert.equal(isSqlIdentifier(bad), false, bad);
    assert.throws(() => sqlIdentifier(bad), /identifier/);
  }
});
