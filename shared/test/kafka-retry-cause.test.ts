// What a retry's log line says failed: the distinct messages of the errors a library error
// aggregates (and of their causes), not the aggregate's own "failed 3 times".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryCause } from '../src/kafka-client.ts';

test('a retried error is named by its distinct inner messages, causes included, at most 300 characters', () => {
  const closed = new Error('Connection closed');
  const aggregate = Object.assign(new Error('commit failed 3 times.'), {
    errors: [
      closed,
      new Error('Connection closed'),
      new Error('Request timed out', { cause: new Error('ETIMEDOUT') }),
    ],
  });
  assert.equal(retryCause(aggregate), 'Connection closed; Request timed out; ETIMEDOUT');
  assert.equal(
    retryCause(new Error('This is not the correct coordinator.')),
    'This is not the correct coordinator.',
  );
  assert.equal(retryCause(undefined), '');
  const long = retryCause(Object.assign(new Error('x'), { errors: [new Error('a'.repeat(400))] }));
  assert.equal(long.length, 300);
  assert.ok(long.endsWith('...'));
});
