// The sink's config: defaults, and every problem reported at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@tradewatch/shared/config';
import { loadSinkConfig } from '../src/config.ts';
import { backoffDelay } from '../src/retry-backoff.ts';

test('defaults', () => {
  const c = loadSinkConfig({});
  assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
  assert.equal(c.eventsTopic, 'game-events');
  assert.equal(c.alertsTopic, 'alerts');
  assert.equal(c.labelsTopic, 'alert-labels');
  assert.equal(c.deadLetterTopic, 'tradewatch.dead-letters');
  assert.equal(c.groupId, 'tradewatch-sink');
  assert.equal(c.clickhouse.url.toString(), 'http://127.0.0.1:8123/');
  assert.equal(c.clickhouse.database, 'tradewatch');
  assert.deepEqual(c.batch, { maxRows: 50000, maxBytes: 16 * 1024 * 1024, maxWaitMs: 500 });
  assert.equal(c.migrateOnStart, true);
  assert.ok(Object.isFrozen(c));
});

test('every invalid variable is reported at once', () => {
  try {
    loadSinkConfig({
      CLICKHOUSE_DATABASE: 'drop table',
      CLICKHOUSE_URL: 'ftp://x',
      SINK_BATCH_MAX_ROWS: '0',
      SINK_RETRY_INITIAL_MS: '5000',
      SINK_RETRY_MAX_MS: '100',
      SINK_HEARTBEAT_INTERVAL_MS: '20000',
      SINK_SESSION_TIMEOUT_MS: '30000',
    });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 5, err.problems.join('\n'));
  }
});

test('each archived topic has its own name, and none is the dead-letter topic', () => {
  assert.equal(loadSinkConfig({ LABELS_TOPIC: 'desk.labels' }).labelsTopic, 'desk.labels');
  try {
    loadSinkConfig({ LABELS_TOPIC: 'alerts', EVENTS_TOPIC: 'x', DEAD_LETTER_TOPIC: 'x' });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems, [
      'EVENTS_TOPIC and DEAD_LETTER_TOPIC must differ (each is "x")',
      'ALERTS_TOPIC and LABELS_TOPIC must differ (each is "alerts")',
    ]);
  }
});

test('backoff doubles from the initial delay up to the cap, with jitter in [50%, 100%]', () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 50].map((a) => backoffDelay(policy, a, () => 1)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(
    backoffDelay(policy, 1, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(policy, 5, () => 0),
    500,
  );
});
