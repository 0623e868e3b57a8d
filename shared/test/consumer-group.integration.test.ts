// Advertised endpoints in a consumer group, on the real broker: a member created with `advertise`
// carries its endpoint in the group, is assigned partitions as any member is, and shares a group
// with members that advertise nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { GroupConsumer } from '../src/kafka-port.ts';
import {
  createTestTopics,
  deleteTestTopics,
  testKafka,
  uniqueName,
  waitUntil,
  withAdmin,
} from '../../test/support/harness.ts';

const kafka = testKafka();
const topics: string[] = [];
const consumers: GroupConsumer[] = [];
after(async () => {
  await Promise.all(consumers.map((c) => c.close()));
  await deleteTestTopics(kafka, topics);
});

const join = async (groupId: string, topic: string, advertise?: { instance: string; endpoint: string }) => {
  const consumer = kafka.groupConsumer({
    groupId,
    topics: [topic],
    startAt: 'committed',
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    maxWaitMs: 100,
    ...(advertise === undefined ? {} : { advertise }),
  });
  consumers.push(consumer);
  await consumer.start({
    onAssigned: () => undefined,
    onRevoked: () => undefined,
    onRecords: () => undefined,
  });
  return consumer;
};

/** The group once it is Stable with `n` members that all hold partitions. */
const stableGroup = (groupId: string, topic: string, n: number) =>
  waitUntil(
    `group ${groupId} to be Stable with ${n} members`,
    () =>
      withAdmin(kafka, async (admin) => {
        const g = await admin.describeGroupMembers(groupId, topic);
        const ready =
          g.state === 'Stable' && g.members.length === n && g.members.every((m) => m.partitions.length > 0);
        return ready ? g : undefined;
      }),
    45000,
    250,
  );

test('members with and without an advertised endpoint share a group and its partitions', async () => {
  const topic = uniqueName('group-topic');
  const groupId = uniqueName('group');
  topics.push(topic);
  await createTestTopics(kafka, [{ topic, partitions: 6 }]);

  const endpoint = 'http://127.0.0.1:39999';
  await join(groupId, topic, { instance: 'proc-a', endpoint });
  await stableGroup(groupId, topic, 1);
  await join(groupId, topic); // no endpoint
  const group = await stableGroup(groupId, topic, 2);

  const advertised = group.members.filter((m) => m.endpoint !== undefined);
  assert.equal(advertised.length, 1);
  assert.equal(advertised[0]!.instance, 'proc-a');
  assert.equal(advertised[0]!.endpoint, endpoint);
  const plain = group.members.find((m) => m.endpoint === undefined)!;
  assert.equal(plain.instance, undefined);
  assert.ok(group.members.every((m) => m.clientId.length > 0 && m.clientHost.length > 0));

  // Round-robin: three partitions each, every partition once.
  assert.deepEqual(
    group.members.map((m) => m.partitions.length),
    [3, 3],
  );
  assert.deepEqual(
    group.members.flatMap((m) => m.partitions).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5],
  );
});

test('every advertising member is described with its own endpoint; an unknown group is Dead', async () => {
  const topic = uniqueName('group-topic');
  const groupId = uniqueName('group');
  topics.push(topic);
  await createTestTopics(kafka, [{ topic, partitions: 5 }]);
  for (const name of ['p1', 'p2', 'p3']) {
    await join(groupId, topic, { instance: name, endpoint: `http://127.0.0.1/${name}` });
  }
  const group = await stableGroup(groupId, topic, 3);
  assert.deepEqual(group.members.map((m) => m.instance).sort(), ['p1', 'p2', 'p3']);
  for (const m of group.members) assert.equal(m.endpoint, `http://127.0.0.1/${m.instance!}`);
  const all = group.members.flatMap((m) => m.partitions).sort((a, b) => a - b);
  assert.deepEqual(all, [0, 1, 2, 3, 4]);

  const unknown = await withAdmin(kafka, (admin) => admin.describeGroupMembers(uniqueName('nobody'), topic));
  assert.deepEqual(unknown, { state: 'Dead', members: [] });
});
