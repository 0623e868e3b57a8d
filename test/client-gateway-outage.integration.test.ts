// The client's retries against a gateway that fails for real: the production gateway on a Kafka of
// this test alone, stopped while the client is sending and started again. Every event must end
// accepted, be on the topic exactly once, and keep its player's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TradewatchClient, type EventOutcome, type GameEvent } from '@tradewatch/client';
import { startGateway } from '../services/gateway/src/gateway.ts';
import { gatewayConfig, readTopic } from '../services/gateway/test/support/infra.ts';
import {
  PrivateKafka,
  createTestTopology,
  freePort,
  testKafka,
  testLogger,
  uniqueName,
  waitUntil,
} from './support/harness.ts';

test(
  'Kafka stopped mid-send: the client retries until every event is accepted, nothing lost, nothing twice',
  { timeout: 300_000 },
  async () => {
    const kafka = await PrivateKafka.start();
    const brokerClient = testKafka({ brokers: [kafka.brokers] });
    const topic = uniqueName('client-outage');
    try {
      await createTestTopology(brokerClient, { events: topic }, { eventsPartitions: 3 });
      const port = await freePort();
      const gateway = await startGateway(
        gatewayConfig({
          KAFKA_BROKERS: kafka.brokers,
          EVENTS_TOPIC: topic,
          GATEWAY_PORT: String(port),
          GATEWAY_PUBLISH_TIMEOUT_MS: '1500',
          GATEWAY_CLAIM_TTL_MS: '5000',
          GATEWAY_IDEMPOTENCY_WINDOW_SEC: '600',
        }),
        testLogger('gateway-it'),
      );
      await gateway.app.listen({ host: '127.0.0.1', port });
      const retries: string[] = [];
      const client = new TradewatchClient({
        url: `http://127.0.0.1:${port}`,
        token: 'it-token-1',
        batchSize: 50,
        retry: { initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: Infinity },
        onRetry: (r) => retries.push(r.error.code),
      });
      try {
        const users = Array.from({ length: 40 }, (_, i) => `player-${i}`);
        const sent: GameEvent[] = [];
        const outcomes: Promise<EventOutcome[]>[] = [];
        const sendSome = (n: number) => {
          const events = Array.from({ length: n }, (_, i): GameEvent => ({
            type: 'trade',
            userId: users[(sent.length + i) % users.length]!,
            ts: Date.now(),
            amount: 1 + ((sent.length + i) % 97),
          }));
          sent.push(...events);
          outcomes.push(client.send(events));
        };
        let sending = true;
        const producer = (async () => {
          while (sending) {
            sendSome(25);
            await new Promise((r) => setTimeout(r, 20));
          }
        })();

        await waitUntil('traffic to flow', () => client.stats().accepted >= 500, 60_000, 10);
        await kafka.down();
        const acceptedAtStop = client.stats().accepted;
        await waitUntil('the client to meet the outage', () => retries.length >= 5, 60_000, 10);
        await kafka.up();
        await waitUntil(
          'traffic to flow again',
          () => client.stats().accepted > acceptedAtStop + 500,
          120_000,
          10,
        );
        sending = false;
        await producer;
        await client.close();

        const results = (await Promise.all(outcomes)).flat();
        assert.equal(results.length, sent.length);
        const notAccepted = results.filter((o) => o.status !== 'accepted');
        assert.deepEqual(notAccepted, [], 'every event accepted');
        assert.ok(retries.includes('unavailable') || retries.includes('in_progress'), retries.join(','));

        const reader = await readTopic(brokerClient, topic);
        try {
          await reader.waitForCount(sent.length, 60_000);
          const ids = reader.values().map((v) => v.eventId as string);
          const byId = new Map(results.map((o, i) => [o.eventId, sent[i]!]));
          assert.equal(new Set(ids).size, sent.length, 'nothing lost');
          assert.equal(ids.length, sent.length, 'nothing on the topic twice');
          for (const u of users) {
            assert.deepEqual(
              reader
                .values()
                .filter((v) => v.userId === u)
                .map((v) => v.eventId),
              results.filter((o) => byId.get(o.eventId)!.userId === u).map((o) => o.eventId),
              `order of ${u}`,
            );
          }
        } finally {
          await reader.stop();
        }
      } finally {
        await client.close();
        await gateway.stop();
      }
    } finally {
      await kafka.destroy();
    }
  },
);
