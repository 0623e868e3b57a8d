// The Kafka adapter on the real broker: records written by kcat (librdkafka) with every codec
// are read exactly; aborted transactions never reach a reader, including the two cases
// @platformatic/kafka's own read_committed filter leaks; transactional offsets carry the group's
// generation (KIP-447) and a stale generation is refused; the endpoint advertised in the group
// is read back; the producer writes every codec (read back by kcat) and places keys as Java does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ConsumedRecord, KafkaClient, RecordBatch, TopicPartition } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { BROKERS, testKafka, testLogger, uniqueName, waitUntil } from '../../test/support/harness.ts';

const client = (): KafkaClient => testKafka({ logger: testLogger('kafka-client-it') });

const kcat = (args: string[], input?: string): string =>
  execFileSync('kcat', ['-b', BROKERS[0]!, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 28 });

/** Reads partitions from `from` until `done` holds, with a partition reader. */
const readAll = async (
  k: KafkaClient,
  tps: TopicPartition[],
  done: (records: ConsumedRecord[]) => boolean,
  opts: { maxBytesPerPartition?: number } = {},
): Promise<ConsumedRecord[]> => {
  const reader = k.partitionReader({ maxWaitMs: 50, ...opts });
  const got: ConsumedRecord[] = [];
  reader.start((b: RecordBatch) => void got.push(...b.records));
  for (const tp of tps) reader.assign(tp, 0);
  try {
    await waitUntil('records', () => done(got), 20000, 50);
    return got;
  } finally {
    await reader.close();
  }
};

test('records written by kcat with every codec are read exactly; the producer writes every codec', async () => {
  const k = client();
  const admin = k.admin();
  const lines = Array.from({ length: 500 }, (_, i) =>
    JSON.stringify({ i, userId: `u${i % 17}`, pad: 'x'.repeat(i % 200) }),
  );
  try {
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const inTopic = uniqueName(`kc-in-${codec}`);
      const outTopic = uniqueName(`kc-out-${codec}`);
      await admin.ensureTopics([
        { topic: inTopic, partitions: 1 },
        { topic: outTopic, partitions: 1 },
      ]);
      kcat(['-P', '-t', inTopic, '-z', codec, '-X', 'linger.ms=20'], `${lines.join('\n')}\n`);
      const got = await readAll(k, [{ topic: inTopic, partition: 0 }], (r) => r.length >= lines.length);
      assert.deepEqual(
        got.map((r) => r.value?.toString()),
        lines,
        `kcat -z ${codec} read back exactly`,
      );
      assert.deepEqual(
        got.map((r) => r.offset),
        lines.map((_, i) => i),
      );

      const producer = k.producer({ compression: codec });
      await producer.send(lines.map((value) => ({ topic: outTopic, key: 'k', value })));
      await producer.close();
      const out = kcat(['-C', '-t', outTopic, '-e', '-q', '-f', '%s\n']).split('\n').filter(Boolean);
      assert.deepEqual(out, lines, `producer with ${codec} read back by kcat`);
      await admin.deleteTopics([inTopic, outTopic]);
    }
  } finally {
    await admin.close();
  }
});

test('keyed records land where Java places them; send returns each partition base offset', async () => {
  const k = client();
  const admin = k.admin();
  const topic = uniqueName('kc-part');
  await admin.ensureTopics([{ topic, partitions: 6 }]);
  const producer = k.producer();
  try {
    const keys = Array.from({ length: 300 }, (_, i) => `player-${i}`);
    const bases = await producer.send(keys.map((key) => ({ topic, key, value: key })));
    assert.ok(bases.length > 0 && bases.every((b) => b.baseOffset === 0));
    const got = await readAll(
      k,
      Array.from({ length: 6 }, (_, partition) => ({ topic, partition })),
      (r) => r.length >= keys.length,
    );
    assert.equal(got.length, keys.length);
    const reader = k.partitionReader({ maxWaitMs: 50 });
    const placed = new Map<string, number>();
    reader.start((b) => {
      for (const r of b.records) placed.set(r.key!.toString(), b.partition);
    });
    for (let partition = 0; partition < 6; partition++) reader.assign({ topic, partition }, 0);
    await waitUntil('all placed', () => placed.size === keys.length, 20000, 50);
    await reader.close();
    for (const key of keys) assert.equal(placed.get(key), partitionForKey(key, 6), key);
  } finally {
    await producer.close();
    await admin.deleteTopics([topic]);
    await admin.close();
  }
});

test('aborted transactions never reach a reader (two in one fetch; one spanning fetches)', async () => {
  const k = client();
  const admin = k.admin();
  const t1 = uniqueName('kc-rc1');
  const t2 = uniqueName('kc-rc2');
  await admin.ensureTopics([
    { topic: t1, partitions: 1 },
    { topic: t2, partitions: 1 },
  ]);
  const p = k.transactionalProducer({ transactionalId: uniqueName('kc-rc-tx'), transactionTimeoutMs: 10000 });
  try {
    await p.init();
    for (const [label, commit] of [
      ['abort-A', false],
      ['commit-B', true],
      ['abort-C', false],
      ['commit-D', true],
    ] as const) {
      await p.begin();
      await p.send([0, 1, 2].map((i) => ({ topic: t1, key: null, value: `${label}-${i}` })));
      if (commit) await p.commit();
      else await p.abort();
    }
    const big = 'x'.repeat(4000);
    await p.begin();
    for (let i = 0; i < 5; i++) await p.send([{ topic: t2, key: null, value: `abort-big-${i}-${big}` }]);
    await p.abort();
    await p.begin();
    await p.send([{ topic: t2, key: null, value: 'commit-after' }]);
    await p.commit();

    const expected1 = ['commit-B-0', 'commit-B-1', 'commit-B-2', 'commit-D-0', 'commit-D-1', 'commit-D-2'];
    const got1 = await readAll(k, [{ topic: t1, partition: 0 }], (r) =>
      r.some((x) => x.value?.toString() === 'commit-D-2'),
    );
    assert.deepEqual(
      got1.map((r) => r.value?.toString()),
      expected1,
    );
    const got2 = await readAll(
      k,
      [{ topic: t2, partition: 0 }],
      (r) => r.some((x) => x.value?.toString() === 'commit-after'),
      { maxBytesPerPartition: 5000 },
    );
    assert.deepEqual(
      got2.map((r) => r.value?.toString()),
      ['commit-after'],
    );
    const marks = await admin.watermarks(t2);
    assert.equal(marks[0]!.high, 8, '5 aborted records, a marker, 1 committed record, a marker');
  } finally {
    await p.close();
    await admin.deleteTopics([t1, t2]);
    await admin.close();
  }
});

test('transactional offsets carry the generation (KIP-447): committed, stable, and refused when stale', async () => {
  const k = client();
  const admin = k.admin();
  const topic = uniqueName('kc-447');
  const groupId = uniqueName('kc-447-g');
  await admin.ensureTopics([{ topic, partitions: 2 }]);
  const consumer = k.groupConsumer({
    groupId,
    topics: [topic],
    startAt: 'seek',
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    cooperative: true,
    advertise: { instance: 'i-1', endpoint: 'http://127.0.0.1:1' },
  });
  const assigned: TopicPartition[] = [];
  await consumer.start({
    onAssigned: (tps) => assigned.push(...tps),
    onRevoked: () => undefined,
    onRecords: () => undefined,
  });
  const p = k.transactionalProducer({
    transactionalId: uniqueName('kc-447-tx'),
    transactionTimeoutMs: 10000,
  });
  try {
    await waitUntil('assignment', () => assigned.length === 2, 20000, 50);
    const members = await admin.describeGroupMembers(groupId, topic);
    assert.equal(members.members.length, 1);
    assert.equal(members.members[0]!.endpoint, 'http://127.0.0.1:1');
    assert.deepEqual(members.members[0]!.partitions, [0, 1]);

    await p.init();
    const group = consumer.groupMetadata();
    await p.begin();
    await p.send([{ topic, partition: 0, key: 'a', value: 'b' }]);
    await p.sendOffsets(
      [
        { topic, partition: 0, offset: 7 },
        { topic, partition: 1, offset: 9 },
      ],
      group,
    );
    await p.commit();
    assert.deepEqual([...(await admin.committedOffsets(groupId, topic))].sort(), [
      [0, 7],
      [1, 9],
    ]);
    await p.begin();
    await assert.rejects(
      p.sendOffsets([{ topic, partition: 0, offset: 8 }], { ...group, generationId: group.generationId - 1 }),
      (err: Error & { code?: string }) => err.code === 'KAFKA_GROUP_FENCED',
    );
    await p.abort();
    assert.equal((await admin.committedOffsets(groupId, topic)).get(0), 7);
  } finally {
    await p.close();
    await consumer.close();
    await admin.deleteTopics([topic]);
    await admin.close();
  }
});
