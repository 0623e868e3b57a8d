// The topology declares every topic once, with the partitions and configs the services have
// always created them with, and leaves replication to the cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TopicSpec } from '../src/kafka-port.ts';
import {
  DEFAULT_ALERTS_TOPIC,
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_EVENTS_TOPIC,
  DEFAULT_LABELS_TOPIC,
  DEFAULT_RULES_TOPIC,
  DEFAULT_SHADOW_ALERTS_TOPIC,
  PIPELINE_TOPIC_ROLES,
  TOPIC_ROLES,
  TOPOLOGY,
  defaultChangelogTopic,
  defaultSandboxTopic,
  ensureTopology,
  topicSpecs,
  type TopicNames,
} from '../src/topology.ts';

const DEFAULT_NAMES: Required<TopicNames> = {
  events: DEFAULT_EVENTS_TOPIC,
  alerts: DEFAULT_ALERTS_TOPIC,
  shadowAlerts: DEFAULT_SHADOW_ALERTS_TOPIC,
  rules: DEFAULT_RULES_TOPIC,
  labels: DEFAULT_LABELS_TOPIC,
  changelog: defaultChangelogTopic('tradewatch-processor'),
  deadLetters: DEFAULT_DEAD_LETTER_TOPIC,
  sandbox: defaultSandboxTopic(DEFAULT_EVENTS_TOPIC),
};

test('every role is declared once, and the default names are distinct topics', () => {
  assert.deepEqual(Object.keys(TOPOLOGY).sort(), [...TOPIC_ROLES].sort());
  assert.equal(new Set(TOPIC_ROLES).size, TOPIC_ROLES.length);
  const specs = topicSpecs(DEFAULT_NAMES, { eventsPartitions: 6 });
  assert.equal(specs.length, TOPIC_ROLES.length);
  assert.equal(new Set(specs.map((s) => s.topic)).size, specs.length);
  assert.equal(specs.filter((s) => s.topic === 'tradewatch.dead-letters').length, 1);
  assert.deepEqual(
    specs.map((s) => s.topic),
    [
      'game-events',
      'alerts',
      'alerts.shadow',
      'rules',
      'alert-labels',
      'tradewatch.tradewatch-processor.changelog',
      'tradewatch.dead-letters',
      'tradewatch.sandbox.game-events',
    ],
  );
});

test('the pipeline is every topic but the sandbox, which a gateway with a sandbox token creates', () => {
  assert.deepEqual(
    [...PIPELINE_TOPIC_ROLES],
    TOPIC_ROLES.filter((r) => r !== 'sandbox'),
  );
  assert.equal(PIPELINE_TOPIC_ROLES.filter((r) => r === 'deadLetters').length, 1);
});

test('partitions and configs are those the services have always created', () => {
  const day = 24 * 3600 * 1000;
  const expected: TopicSpec[] = [
    { topic: 'game-events', partitions: 4, config: { 'retention.ms': String(7 * day) } },
    { topic: 'alerts', partitions: 4, config: { 'retention.ms': String(30 * day) } },
    { topic: 'alerts.shadow', partitions: 4, config: {} },
    {
      topic: 'rules',
      partitions: 1,
      config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': String(365 * day) },
    },
    { topic: 'alert-labels', partitions: 3, config: { 'retention.ms': '-1' } },
    {
      topic: 'tradewatch.tradewatch-processor.changelog',
      partitions: 4,
      config: {
        'cleanup.policy': 'compact',
        'segment.bytes': String(64 * 1024 * 1024),
        'segment.ms': '600000',
        'min.cleanable.dirty.ratio': '0.3',
      },
    },
    { topic: 'tradewatch.dead-letters', partitions: 1, config: {} },
    { topic: 'tradewatch.sandbox.game-events', partitions: 4, config: { 'retention.ms': String(7 * day) } },
  ];
  assert.deepEqual(topicSpecs(DEFAULT_NAMES, { eventsPartitions: 4 }), expected);
});

test('replication is left to the cluster: no topic names a replication factor or min.insync.replicas', () => {
  for (const spec of topicSpecs(DEFAULT_NAMES, { eventsPartitions: 6 })) {
    assert.equal(spec.replicationFactor, undefined, spec.topic);
    assert.equal(spec.config?.['min.insync.replicas'], undefined, spec.topic);
  }
});

test('only the named roles are specified; a topic sized by the events topic needs its partitions', () => {
  assert.deepEqual(topicSpecs({ labels: 'l', rules: 'r' }), [
    {
      topic: 'r',
      partitions: 1,
      config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': String(365 * 24 * 3600 * 1000) },
    },
    { topic: 'l', partitions: 3, config: { 'retention.ms': '-1' } },
  ]);
  assert.throws(
    () => topicSpecs({ alerts: 'a' }),
    (err: Error & { code?: string }) => err.code === 'TOPOLOGY_EVENTS_PARTITIONS_MISSING',
  );
  // A spec is a copy: changing it does not change the topology.
  const [spec] = topicSpecs({ labels: 'l' });
  spec!.config!['retention.ms'] = '1';
  assert.equal(TOPOLOGY.labels.config['retention.ms'], '-1');
});

test('ensureTopology hands the named topics to the admin in one call', async () => {
  const calls: TopicSpec[][] = [];
  await ensureTopology(
    {
      ensureTopics: (specs) => {
        calls.push([...specs]);
        return Promise.resolve();
      },
    },
    { deadLetters: 'dlq', alerts: 'a' },
    { eventsPartitions: 2 },
  );
  assert.deepEqual(calls, [
    [
      { topic: 'a', partitions: 2, config: { 'retention.ms': String(30 * 24 * 3600 * 1000) } },
      { topic: 'dlq', partitions: 1, config: {} },
    ],
  ]);
});
