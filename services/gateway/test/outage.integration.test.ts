// Kafka or Redis stopped under a running gateway: private instances of this test alone (started
// and stopped here, by pid), so that other tests on the shared infrastructure are not disturbed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../src/gateway.ts';
import { IT_HEADERS, PrivateRedis, gatewayConfig, readTopic } from './support/infra.ts';
import {
  PrivateKafka,
  createTestTopology,
  deleteTestTopics,
  testKafka,
  testLogger,
  uniqueName,
  waitUntil,
} from '../../../test/support/harness.ts';

const batch = (from: number, n: number, userId = 'grace') => ({
  events: Array.from({ length: n }, (_, i) => ({
    eventId: `${userId}-${from + i}`,
    type: 'trade',
    userId,
    ts: Date.now(),
    amount: 5,
  })),
});
const post = (body: unknown) => ({
  method: 'POST' as const,
  url: '/v1/events',
  headers: IT_HEADERS,
  payload: JSON.stringify(body),
});

test(
  'Kafka stopped: 503 with Retry-After within the bound, nothing lost once it is back',
  { timeout: 180_000 },
  async () => {
    const kafka = await PrivateKafka.start();
    const client = testKafka({ brokers: [kafka.brokers] });
    const topic = uniqueName('gateway-outage');
    const PUBLISH_TIMEOUT = 1500;
    try {
      await createTestTopology(client, { events: topic }, { eventsPartitions: 2 });
      const g = await startGateway(
        gatewayConfig({
          KAFKA_BROKERS: kafka.brokers,
          EVENTS_TOPIC: topic,
          GATEWAY_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT),
          GATEWAY_CLAIM_TTL_MS: '5000',
          GATEWAY_IDEMPOTENCY_WINDOW_SEC: '600',
        }),
        testLogger('gateway-it'),
      );
      try {
        assert.equal((await g.app.inject(post(batch(0, 100)))).statusCode, 202);

        await kafka.down();
        const before = Date.now();
        // Built once: a retry is the same request (a new ts would make it other events, 409).
        const retried = batch(100, 100);
        const res = await g.app.inject(post(retried));
        const elapsed = Date.now() - before;
        assert.equal(res.statusCode, 503, res.body);
        assert.ok(res.headers['retry-after']);
        assert.ok(elapsed < PUBLISH_TIMEOUT + 1000, `503 after ${elapsed} ms`);
        const ready = await g.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.notEqual(ready.json<{ checks: { kafka: string } }>().checks.kafka, 'ok');

        await kafka.up();
        // The client retries the same request until it is accepted.
        await waitUntil(
          'the retry to be accepted after Kafka came back',
          async () => (await g.app.inject(post(retried))).statusCode === 202,
          90_000,
          10,
        );
        const reader = await readTopic(client, topic);
        try {
          await reader.waitForCount(200, 60_000);
          const ids = new Set(reader.values().map((v) => v.eventId));
          for (let i = 0; i < 200; i++) assert.ok(ids.has(`grace-${i}`), `grace-${i} lost`);
          // Per user, the first copy of each event is in request order (later copies are duplicates
          // of a send that Kafka acknowledged after its request had been answered 503).
          const firsts = [...ids];
          assert.deepEqual(
            firsts,
            Array.from({ length: 200 }, (_, i) => `grace-${i}`),
          );
        } finally {
          await reader.stop();
        }
      } finally {
        await g.stop();
      }
    } finally {
      await kafka.destroy();
    }
  },
);

test(
  'Redis stopped: 503 with Retry-After within the bound and nothing published; recovers when it is back',
  { timeout: 60_000 },
  async () => {
    const redis = await PrivateRedis.start();
    const kafka = testKafka();
    const topic = uniqueName('gateway-redis-outage');
    await createTestTopology(kafka, { events: topic }, { eventsPartitions: 1 });
    try {
      const g = await startGateway(
        gatewayConfig({ REDIS_URL: redis.url, EVENTS_TOPIC: topic }),
        testLogger('gateway-it'),
      );
      try {
        assert.equal((await g.app.inject(post(batch(0, 10, 'heidi')))).statusCode, 202);

        await redis.down();
        const before = Date.now();
        const retried = batch(10, 10, 'heidi');
        const res = await g.app.inject(post(retried));
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.headers['retry-after'], '1');
        assert.ok(Date.now() - before < 3000, `503 after ${Date.now() - before} ms`);
        const ready = await g.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.equal(ready.json<{ checks: { kafka: string } }>().checks.kafka, 'ok');

        await redis.up();
        await waitUntil(
          'the gateway to reconnect to Redis',
          async () => (await g.app.inject(post(retried))).statusCode === 202,
          20_000,
          10,
        );
        assert.equal((await g.app.inject(post(batch(20, 1, 'heidi')))).statusCode, 202);
        const reader = await readTopic(kafka, topic);
        try {
          await reader.waitForCount(21);
          assert.deepEqual(
            reader.values().map((v) => v.eventId),
            Array.from({ length: 21 }, (_, i) => `heidi-${i}`),
            'nothing was published while Redis was down',
          );
        } finally {
          await reader.stop();
        }
      } finally {
        await g.stop();
      }
    } finally {
      await redis.down();
      await deleteTestTopics(kafka, [topic]);
    }
  },
);
