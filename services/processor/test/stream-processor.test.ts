// The commit pipeline without a broker: batches are applied while earlier transactions are still
// committing; when a transaction fails, the task must rewind the consumer to its last commit and
// never go on from state that is ahead of what was committed. A fake broker keeps only what
// committed transactions wrote; the committed alerts must be exactly the reference rule's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent } from '@tradewatch/shared/events';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { createLogger } from '@tradewatch/shared/logger';
import type {
  Admin,
  Consumer,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  Message,
} from '@tradewatch/shared/kafka';
import { referenceAlerts } from '../../../test/support/reference-rule.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import { RESTORE_MARKER_KEY, type ChangelogRestorer } from '../src/changelog-restorer.ts';
import { DEFAULT_RULE_PARAMS } from '../src/detect-large-trade.ts';
import { ProcessorStats } from '../src/processor-stats.ts';
import { StreamProcessor } from '../src/stream-processor.ts';
import type { UserStateStore } from '../src/user-state-store.ts';

const EVENTS = 'events';

/** What committed transactions wrote: alerts, the changelog (latest per key), the group offset. */
class FakeBroker {
  alerts: string[] = [];
  changelog = new Map<string, Buffer>();
  offset = -1;
  commits = 0;
  failCommits = new Set<number>();
  /** Transactions that are sending or committing right now. */
  open = 0;

  producer() {
    return {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      transaction: () => {
        const sent: { topic: string; messages: Message[] }[] = [];
        let offset: number | undefined;
        this.open++;
        const close = () => this.open--;
        return Promise.resolve({
          send: (r: { topic: string; messages: Message[] }) => Promise.resolve(void sent.push(r)),
          sendBatch: async (r: { topicMessages: { topic: string; messages: Message[] }[] }) => {
            await sleep(2);
            sent.push(...r.topicMessages);
          },
          sendOffsets: (r: { topics: { partitions: { offset: string }[] }[] }) => {
            offset = Number(r.topics[0]!.partitions[0]!.offset);
            return Promise.resolve();
          },
          commit: async () => {
            await sleep(5);
            close();
            const n = ++this.commits;
            if (this.failCommits.has(n)) throw new Error(`injected failure of commit ${n}`);
            for (const { topic, messages } of sent) {
              for (const m of messages) {
                if (topic === 'alerts') this.alerts.push(String(m.value));
                if (topic === 'changelog') this.changelog.set(String(m.key), m.value as Buffer);
              }
            }
            if (offset !== undefined) this.offset = offset;
          },
          abort: () => Promise.resolve(close()),
        });
      },
    };
  }
}

test('a failed transaction rewinds to the last commit; committed alerts are exactly the reference', async () => {
  const events = generateWorkload({
    users: 30,
    events: 1500,
    seed: 21,
    takeoverRate: 0.08,
    duplicateRate: 0.03,
  });
  const expected = referenceAlerts(events)
    .map((a) => a.alertId)
    .sort();
  assert.ok(expected.length > 10);
  const records: KafkaMessage[] = events.map((e, i) => ({
    key: Buffer.from(e.userId),
    value: Buffer.from(encodeEvent(e)),
    offset: String(i),
    timestamp: '0',
    attributes: 0,
    headers: {},
  }));

  const broker = new FakeBroker();
  broker.failCommits = new Set([3, 7, 8, 15]);
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  let onJoin: ((e: { payload: unknown }) => void) | undefined;
  let seekTo: number | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join' },
    on: (_: string, cb: (e: { payload: unknown }) => void) => (onJoin = cb),
    connect: () => Promise.resolve(),
    subscribe: () => Promise.resolve(),
    run: (o: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => {
      eachBatch = o.eachBatch;
      return Promise.resolve();
    },
    seek: ({ offset }: { offset: string }) => (seekTo = Number(offset)),
    disconnect: () => Promise.resolve(),
  };
  const restorer = {
    restore: (_p: number, store: UserStateStore) => {
      for (const [key, value] of broker.changelog) {
        if (key !== RESTORE_MARKER_KEY) store.loadEncoded(key, value);
      }
      return Promise.resolve(broker.changelog.size);
    },
    cancel: () => undefined,
  };
  const admin = {
    fetchOffsets: () =>
      Promise.resolve([{ topic: EVENTS, partitions: [{ partition: 0, offset: String(broker.offset) }] }]),
  };
  const processor = new StreamProcessor({
    kafka: { producer: () => broker.producer() } as unknown as Kafka,
    admin: admin as unknown as Admin,
    consumer: consumer as unknown as Consumer,
    restorer: restorer as unknown as ChangelogRestorer,
    log: createLogger('test', process.env.TEST_LOG === '1' ? 'debug' : 'silent'),
    stats: new ProcessorStats(),
    eventsTopic: EVENTS,
    alertsTopic: 'alerts',
    changelogTopic: 'changelog',
    deadLetterTopic: 'dlq',
    groupId: 'g',
    transactionalIdPrefix: 't',
    transactionTimeoutMs: 10000,
    rule: DEFAULT_RULE_PARAMS,
    partitionsConsumedConcurrently: 1,
    commitIntervalMs: 1,
    maxUncommittedRecords: 200,
  });
  await processor.start();
  onJoin!({ payload: { memberId: 'm', memberAssignment: { [EVENTS]: [0] } } });

  // A kafkajs-like fetch loop: batches of 40 from the consumer's position; a seek moves it; an
  // error thrown from eachBatch makes it fetch again from the last resolved offset.
  let position = 0;
  let errors = 0;
  let overlapped = 0;
  for (let rounds = 0; broker.offset < records.length && rounds < 5000; rounds++) {
    if (seekTo !== undefined) {
      position = seekTo;
      seekTo = undefined;
    }
    const messages = records.slice(position, position + 40);
    if (messages.length === 0) {
      await sleep(5);
      continue;
    }
    let resolved = position;
    if (broker.open > 0) overlapped++;
    try {
      await eachBatch!({
        batch: {
          topic: EVENTS,
          partition: 0,
          highWatermark: String(records.length),
          messages,
          lastOffset: () => messages.at(-1)!.offset,
        },
        resolveOffset: (o: string) => (resolved = Number(o) + 1),
        heartbeat: () => Promise.resolve(),
        isRunning: () => true,
        isStale: () => seekTo !== undefined,
      } as unknown as EachBatchPayload);
    } catch (err) {
      if (process.env.TEST_LOG === '1') console.error(err);
      errors++;
    }
    position = resolved;
    await sleep(1); // a fetch takes a while: timers (the commit interval) get their turn
  }
  await processor.stop();

  assert.equal(broker.offset, records.length, 'everything committed in the end');
  assert.ok(errors >= 1, 'the injected failures surfaced');
  assert.ok(overlapped > 0, 'batches were applied while a transaction was committing');
  const got = broker.alerts.map((a) => decodeAlert(a).alertId).sort();
  assert.equal(new Set(got).size, got.length, 'no alert twice');
  assert.deepEqual(got, expected);
});
