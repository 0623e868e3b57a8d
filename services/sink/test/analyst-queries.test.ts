// The example queries' arguments: defaults, bounds, escaping; and the query command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXAMPLE_QUERIES, findExample, renderExample } from '../src/analyst-queries.ts';
import { parseCommandLine } from '../src/query-command.ts';

test('every example renders with its defaults (plus the required user) for the configured database', () => {
  for (const q of EXAMPLE_QUERIES) {
    const sql = renderExample(q, 'tw', q.params.user === undefined ? {} : { user: 'u-1' });
    assert.match(sql, /`tw`\./);
    assert.doesNotMatch(sql, /\{|undefined/);
  }
});

test('string arguments are escaped, integer arguments checked', () => {
  const q = findExample('alerts-of-user')!;
  assert.match(renderExample(q, 'tw', { user: "x' OR 1=1 --" }), /userId = 'x\\' OR 1=1 --'/);
  assert.throws(() => renderExample(q, 'tw', {}), /--user is required/);
  assert.throws(
    () => renderExample(q, 'tw', { user: 'u', minutes: '1; DROP TABLE x' }),
    /--minutes must be an integer/,
  );
  assert.throws(() => renderExample(q, 'tw', { user: 'u', bogus: '1' }), /--bogus is not a parameter/);
  assert.throws(() => renderExample(q, 'bad-db', { user: 'u' }), /identifier/);
});

test('the command line: SQL as one positional, or --example with --name value / --name=value', () => {
  assert.deepEqual(parseCommandLine(['SELECT 1']), {
    flags: new Set(),
    options: {},
    positionals: ['SELECT 1'],
  });
  assert.deepEqual(
    parseCommandLine(['--example', 'alerts-of-user', '--user=a b', '--minutes', '5', '--print']),
    {
      flags: new Set(['print']),
      options: { example: 'alerts-of-user', user: 'a b', minutes: '5' },
      positionals: [],
    },
  );
});
