import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJsonMediaType, jsonDepth, parseJsonBody } from '../src/json-body.ts';

test('isJsonMediaType accepts application/json in UTF-8 only', () => {
  for (const ok of [
    'application/json',
    'APPLICATION/JSON',
    'application/json; charset=utf-8',
    'application/json;charset="UTF-8"',
  ]) {
    assert.equal(isJsonMediaType(ok), true, ok);
  }
  for (const bad of [
    undefined,
    '',
    'text/plain',
    'application/json; charset=latin1',
    'application/json-patch+json',
    'application/jsonl',
    'application/json; boundary=x',
  ]) {
    assert.equal(isJsonMediaType(bad), false, String(bad));
  }
});

test('jsonDepth counts containers and stops early on deep input', () => {
  assert.equal(jsonDepth(1, 8), 0);
  assert.equal(jsonDepth({}, 8), 1);
  assert.equal(jsonDepth({ events: [{ a: 1 }] }, 8), 3);
  assert.equal(jsonDepth([[[]], []], 8), 3);
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.ok(jsonDepth(deep, 8) > 8);
});

test('parseJsonBody: empty, invalid UTF-8, invalid JSON, too deep', () => {
  assert.deepEqual(parseJsonBody(Buffer.from('{"a":[1]}')), { a: [1] });
  assert.deepEqual(parseJsonBody(Buffer.from('\ufeff{"a":1}')), { a: 1 }, 'a UTF-8 BOM is tolerated');
  assert.throws(() => parseJsonBody(Buffer.alloc(0)), { code: 'malformed_json' });
  assert.throws(() => parseJsonBody(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), {
    code: 'malformed_json',
    message: /UTF-8/,
  });
  assert.throws(() => parseJsonBody(Buffer.from('{"a":')), { code: 'malformed_json' });
  assert.throws(() => parseJsonBody(Buffer.from('[[[[[[[[[]]]]]]]]]')), { code: 'invalid_body' });
});
