// The desk's rule registry on the real broker: the seed is put on an empty rules topic once, a
// change is read back before it is answered, a refused change writes nothing, and two desks
// racing for one version number: the first written stands, the other is told to retry.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RuleFeed } from '@tradewatch/shared/rule-feed';
import { decodeRuleRecord, nextRuleVersion, RuleBook, RuleInvalidError } from '@tradewatch/shared/rules';
import { KafkaRuleRegistry } from '../src/rule-registry.ts';
import {
  createTestTopology,
  deleteTestTopics,
  readTopicUntil,
  testKafka,
  testLogger,
  uniqueName,
} from '../../../test/support/harness.ts';

const kafka = testKafka();
const topic = `${uniqueName('desk-rules')}.rules`;
const log = testLogger('desk-rules');
const registries: KafkaRuleRegistry[] = [];
const admins: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await Promise.all(admins.map((a) => a.close()));
  await deleteTestTopics(kafka, [topic]);
});

const registry = async () => {
  const admin = kafka.admin();
  admins.push(admin);
  const feed = new RuleFeed(
    {
      reader: kafka.partitionReader({ maxWaitMs: 50 }),
      admin,
      topic,
      book: new RuleBook(),
      log,
      refreshMs: 100,
    },
    2000,
  );
  await feed.start();
  const r = new KafkaRuleRegistry({ feed, producer: kafka.producer(), topic, log });
  registries.push(r);
  return r;
};

const topicVersions = async (n: number) =>
  (await readTopicUntil(kafka, topic, (rs) => rs.length >= n)).map((r) => {
    const d = decodeRuleRecord(r.key, r.value);
    return d.ok ? `${d.definition.ruleId}@${d.definition.version}:${d.definition.author}` : 'invalid';
  });

test('seed once, changes read back, refusals write nothing, a race for a version is a conflict', async () => {
  await createTestTopology(kafka, { rules: topic });
  const a = await registry();
  await a.seed();
  await a.seed();
  const draft = { type: 'large-trade-new-ip', mode: 'active', params: { amountFactor: 4 }, reason: 'tune' };
  const make = (author: string) => (all: readonly Parameters<typeof nextRuleVersion>[2][number][]) =>
    nextRuleVersion(
      'large-trade-new-ip',
      draft,
      all.filter((v) => v.ruleId === 'large-trade-new-ip'),
      author,
      Date.now(),
    );
  const v2 = await a.change(make('ann'));
  assert.equal(v2.version, 2);
  assert.deepEqual(
    (await a.versions()).map((v) => v.version),
    [2, 1],
  );
  await assert.rejects(
    a.change((all) =>
      nextRuleVersion('large-trade-new-ip', { ...draft, mode: 'loud' }, all, 'ann', Date.now()),
    ),
    RuleInvalidError,
  );

  // A second desk that read the topic before a's next change, writing the same version number.
  const b = await registry();
  const stale = await b.versions();
  const v3 = await a.change(make('ann'));
  assert.equal(v3.version, 3);
  await assert.rejects(
    b.change(() =>
      nextRuleVersion(
        'large-trade-new-ip',
        draft,
        stale.filter((v) => v.ruleId === 'large-trade-new-ip'),
        'bob',
        Date.now(),
      ),
    ),
    (e: { code?: string }) => e.code === 'conflict',
  );
  assert.deepEqual(await topicVersions(4), [
    'large-trade-new-ip@1:tradewatch',
    'large-trade-new-ip@2:ann',
    'large-trade-new-ip@3:ann',
    'large-trade-new-ip@3:bob',
  ]);
  assert.equal((await b.versions()).find((v) => v.version === 3)?.author, 'ann', 'the first written stands');
});
