// The gateway wired as in production (startGateway) against the shared Kafka and Redis: each test
// has its own topic and Redis key prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSandboxTopic } from '@tradewatch/shared/topology';
import { startGateway } from '../src/gateway.ts';
import {
  IT_HEADERS,
  IT_SANDBOX_HEADERS,
  IT_TOKENS_WITH_SANDBOX,
  gatewayConfig,
  readTopic,
} from './support/infra.ts';
import {
  createTestTopology,
  deleteTestTopics,
  testKafka,
  testLogger,
  uniqueName,
} from '../../../test/support/harness.ts';

const kafka = testKafka();

const event = (i: number, userId: string) => ({
  eventId: `${userId}-e${i}`,
  type: 'trade',
  userId,
  ts: Date.now(),
  amount: i + 1,
});

const withGateway = async (
  env: Record<string, string>,
  fn: (g: Awaited<ReturnType<typeof startGateway>>, topic: string) => Promise<void>,
) => {
  const topic = uniqueName('gateway-events');
  await createTestTopology(kafka, { events: topic }, { eventsPartitions: 3 });
  const g = await startGateway(
    gatewayConfig({ EVENTS_TOPIC: topic, GATEWAY_IDEMPOTENCY_WINDOW_SEC: '600', ...env }),
    testLogger('gateway-it'),
  );
  try {
    await fn(g, topic);
  } finally {
    await g.stop();
    await deleteTestTopics(kafka, [topic, defaultSandboxTopic(topic)]);
  }
};

const post = (body: unknown) => ({
  method: 'POST' as const,
  url: '/v1/events',
  headers: IT_HEADERS,
  payload: JSON.stringify(body),
});

test(
  "a 202'd batch is on the topic, keyed by user, normalised, in request order per user",
  { timeout: 60_000 },
  async () => {
    await withGateway({}, async ({ app }, topic) => {
      const users = ['alice', 'bob', 'carol', 'dave'];
      const events = Array.from({ length: 400 }, (_, i) => event(i, users[i % users.length]!));
      const res = await app.inject(post({ events }));
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(res.json(), { accepted: 400, duplicates: 0 });

      const reader = await readTopic(kafka, topic);
      try {
        await reader.waitForCount(400);
        for (const m of reader.messages) {
          const v = JSON.parse(m.value!.toString()) as {
            userId: string;
            gameServerId: string;
            receivedAt: number;
            currency: string;
          };
          assert.equal(m.key!.toString(), v.userId);
          assert.equal(v.gameServerId, 'gs-it');
          assert.equal(typeof v.receivedAt, 'number');
          assert.equal(v.currency, 'gold');
        }
        for (const u of users) {
          assert.deepEqual(
            reader
              .values()
              .filter((v) => v.userId === u)
              .map((v) => v.eventId),
            events.filter((e) => e.userId === u).map((e) => e.eventId),
            `order of ${u}`,
          );
        }
      } finally {
        await reader.stop();
      }
    });
  },
);

test('a retried request does not publish twice', { timeout: 60_000 }, async () => {
  await withGateway({}, async ({ app }, topic) => {
    const events = Array.from({ length: 50 }, (_, i) => event(i, 'erin'));
    assert.deepEqual((await app.inject(post({ events }))).json(), { accepted: 50, duplicates: 0 });
    assert.deepEqual((await app.inject(post({ events }))).json(), { accepted: 0, duplicates: 50 });
    const partly = [...events.slice(0, 10), event(50, 'erin')];
    assert.deepEqual((await app.inject(post({ events: partly }))).json(), { accepted: 1, duplicates: 10 });
    // A marker published after the retries: once it is read, everything before it has been too.
    assert.equal((await app.inject(post(event(99, 'erin')))).statusCode, 202);
    const reader = await readTopic(kafka, topic);
    try {
      await reader.waitForCount(52);
      const ids = reader.values().map((v) => v.eventId);
      assert.equal(ids.at(-1), 'erin-e99');
      assert.equal(ids.length, 52);
      assert.equal(new Set(ids).size, 52, 'no eventId twice');
    } finally {
      await reader.stop();
    }
  });
});

test(
  'concurrent requests of one user: every 202 is on the topic once, in the order of the replies',
  { timeout: 60_000 },
  async () => {
    await withGateway({}, async ({ app }, topic) => {
      const order: string[] = [];
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const res = await app.inject(post(event(i, 'frank')));
          assert.equal(res.statusCode, 202);
          order.push(`frank-e${i}`);
        }),
      );
      const reader = await readTopic(kafka, topic);
      try {
        await reader.waitForCount(200);
        const onTopic = reader.values().map((v) => v.eventId as string);
        assert.equal(onTopic.length, 200);
        // A reply can only come after the ack of its send, and sends are made one after another:
        // whatever was answered earlier was written earlier.
        const pos = new Map(onTopic.map((id, i) => [id, i]));
        assert.deepEqual(
          order.map((id) => pos.get(id)),
          order.map((id) => pos.get(id)).toSorted((a, b) => a! - b!),
        );
      } finally {
        await reader.stop();
      }
    });
  },
);

test('a 1 MiB batch of one user with long ids fits the broker limits', { timeout: 60_000 }, async () => {
  await withGateway({}, async ({ app }, topic) => {
    const userId = '玩'.repeat(128); // 384 bytes in UTF-8, in the key and in the value
    const events = Array.from({ length: 1000 }, (_, i) => ({
      eventId: `big-${i}`.padEnd(128, 'x'),
      type: 'trade',
      userId,
      ts: Date.now(),
      amount: 1,
      itemId: 'i'.repeat(128),
      counterpartyId: 'c'.repeat(128),
    }));
    let body = JSON.stringify({ events });
    assert.ok(Buffer.byteLength(body) < 1024 * 1024, `body is ${Buffer.byteLength(body)} bytes`);
    body = body.slice(0, -1) + ' '.repeat(1024 * 1024 - Buffer.byteLength(body)) + '}';
    const res = await app.inject({ method: 'POST', url: '/v1/events', headers: IT_HEADERS, payload: body });
    assert.equal(res.statusCode, 202, res.body);
    const reader = await readTopic(kafka, topic);
    try {
      await reader.waitForCount(1000);
      assert.deepEqual(
        reader.values().map((v) => v.eventId),
        events.map((e) => e.eventId),
      );
    } finally {
      await reader.stop();
    }
  });
});

test('/readyz reports Kafka and Redis reachable', { timeout: 30_000 }, async () => {
  await withGateway({}, async ({ app }) => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.deepEqual(
      [res.statusCode, res.json()],
      [200, { ready: true, checks: { kafka: 'ok', redis: 'ok' } }],
    );
  });
});

test(
  'the ledger knows where each accepted event is: GET /v1/events/:eventId names its partition and offset',
  { timeout: 60_000 },
  async () => {
    await withGateway({}, async ({ app }, topic) => {
      const users = ['ida', 'jon', 'kim', 'lea', 'max'];
      const events = Array.from({ length: 60 }, (_, i) => event(i, users[i % users.length]!));
      // Several requests at once, so that sends carry the events of several requests.
      await Promise.all(
        [0, 1, 2, 3].map(async (k) => {
          const res = await app.inject(post({ events: events.slice(k * 15, k * 15 + 15) }));
          assert.equal(res.statusCode, 202, res.body);
        }),
      );
      const reader = await readTopic(kafka, topic);
      try {
        await reader.waitForCount(60);
        const onTopic = new Map(
          reader.messages.map((m) => [
            (JSON.parse(m.value!.toString()) as { eventId: string }).eventId,
            { partition: m.partition, offset: Number(m.offset) },
          ]),
        );
        for (const e of events) {
          const res = await app.inject({
            method: 'GET',
            url: `/v1/events/${e.eventId}`,
            headers: IT_HEADERS,
          });
          assert.equal(res.statusCode, 200, res.body);
          const { accepted } = res.json<{
            accepted: { receivedAt: number; topic: string; partition: number; offset: number };
          }>();
          const { receivedAt, ...where } = accepted;
          assert.deepEqual(where, { topic, ...onTopic.get(e.eventId)! }, e.eventId);
          assert.ok(Math.abs(receivedAt - Date.now()) < 60_000);
        }
      } finally {
        await reader.stop();
      }
    });
  },
);

test(
  '409 on the shared Redis: an eventId reused with other content publishes nothing',
  { timeout: 60_000 },
  async () => {
    await withGateway({}, async ({ app }, topic) => {
      const original = event(1, 'nia');
      assert.equal((await app.inject(post(original))).statusCode, 202);
      const reused = await app.inject(post({ events: [event(2, 'nia'), { ...original, amount: 999 }] }));
      assert.equal(reused.statusCode, 409, reused.body);
      assert.deepEqual(reused.json<{ indexes: number[] }>().indexes, [1]);
      assert.deepEqual((await app.inject(post(original))).json(), { accepted: 0, duplicates: 1 });
      assert.equal((await app.inject(post(event(3, 'nia')))).statusCode, 202); // a marker
      const reader = await readTopic(kafka, topic);
      try {
        await reader.waitForCount(2);
        assert.deepEqual(
          reader.values().map((v) => [v.eventId, v.amount]),
          [
            ['nia-e1', 2],
            ['nia-e3', 4],
          ],
        );
      } finally {
        await reader.stop();
      }
    });
  },
);

test(
  'a sandbox token: its events go to the sandbox topic, marked, and never to the live one',
  { timeout: 60_000 },
  async () => {
    await withGateway({ GATEWAY_TOKENS: IT_TOKENS_WITH_SANDBOX }, async ({ app }, topic) => {
      const events = Array.from({ length: 20 }, (_, i) => event(i, 'oda'));
      const sandboxPost = { ...post({ events }), headers: IT_SANDBOX_HEADERS };
      assert.deepEqual((await app.inject(sandboxPost)).json(), { accepted: 20, duplicates: 0 });
      assert.deepEqual((await app.inject(sandboxPost)).json(), { accepted: 0, duplicates: 20 });
      // The same ids with the live token are live events of their own.
      assert.deepEqual((await app.inject(post({ events: events.slice(0, 2) }))).json(), {
        accepted: 2,
        duplicates: 0,
      });
      const status = await app.inject({
        method: 'GET',
        url: `/v1/events/oda-e5`,
        headers: IT_SANDBOX_HEADERS,
      });
      const body = status.json<{
        sandbox: boolean;
        accepted: { topic: string };
        processed: { state: string };
      }>();
      assert.deepEqual(
        [body.sandbox, body.accepted.topic, body.processed.state],
        [true, `tradewatch.sandbox.${topic}`, 'skipped'],
      );

      const sandbox = await readTopic(kafka, defaultSandboxTopic(topic));
      const live = await readTopic(kafka, topic);
      try {
        await sandbox.waitForCount(20);
        await live.waitForCount(2);
        assert.deepEqual(
          sandbox.values().map((v) => [v.eventId, v.gameServerId]),
          events.map((e) => [e.eventId, 'gs-it']),
        );
        assert.ok(sandbox.messages.every((m) => m.headers.get('tw-sandbox')?.toString() === '1'));
        assert.deepEqual(
          live.values().map((v) => v.eventId),
          ['oda-e0', 'oda-e1'],
        );
        assert.ok(live.messages.every((m) => m.headers.get('tw-sandbox') === undefined));
      } finally {
        await sandbox.stop();
        await live.stop();
      }
    });
  },
);
