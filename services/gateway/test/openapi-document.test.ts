// The OpenAPI document as a reference: a server to call, an example for every request and every
// reply, the ts union spelled out, the guarantees written down — and every example true: request
// examples are accepted, error examples carry a code the API answers with that status, and each
// is, body and message included, what the API answers to a request that makes that error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { TradewatchError } from '@tradewatch/shared/errors';
import { HTTP_ERRORS } from '../src/errors.ts';
import { JSON_HEADERS, NOW, buildTestApp, login, trade } from './support/memory-ports.ts';

interface Media {
  schema: Record<string, unknown>;
  example?: unknown;
  examples?: Record<string, { summary?: string; value: unknown }>;
}
interface Operation {
  summary?: string;
  description?: string;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description: string; content?: Record<string, Media> }>;
}
interface Doc {
  info: { description: string };
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}

const examplesOf = (media: Media | undefined): unknown[] =>
  media === undefined
    ? []
    : [
        ...(media.example === undefined ? [] : [media.example]),
        ...Object.values(media.examples ?? {}).map((e) => e.value),
      ];

// The examples are dated 2026-11-25; the test app's clock is set to that day.
const { app } = await buildTestApp({ publicUrl: 'https://ingest.example.net', now: () => NOW + 3_600_000 });
const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Doc>();

test('the document names its server, and says what integrators must know', () => {
  assert.deepEqual(
    doc.servers?.map((s) => s.url),
    ['https://ingest.example.net'],
  );
  const text = doc.info.description;
  for (const topic of [
    'Idempotency',
    'Ordering',
    'sandbox',
    'Retry-After',
    '409',
    'GET /v1/events/{eventId}',
  ]) {
    assert.ok(text.includes(topic), `the description covers ${topic}`);
  }
  assert.match(text, /trade's own `ip` is validated and archived, not compared/);
  assert.doesNotMatch(JSON.stringify(doc), /README-api|\.md\b/, 'no link to a file integrators do not have');
});

test('every request body and every reply has an example', () => {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!path.startsWith('/v1/')) continue;
      if (op.requestBody) {
        assert.ok(
          examplesOf(op.requestBody.content['application/json']).length > 0,
          `${method} ${path} request`,
        );
      }
      for (const [status, reply] of Object.entries(op.responses)) {
        assert.ok(
          examplesOf(reply.content?.['application/json']).length > 0,
          `${method} ${path} ${status} has an example`,
        );
      }
    }
  }
});

test('ts is spelled out as a union of an RFC 3339 string and integer epoch milliseconds', () => {
  const body = doc.paths['/v1/events']!.post!.requestBody!.content['application/json']!.schema;
  const text = JSON.stringify(body);
  const ts = /"ts":(\{"description":[^]*?\]\})/.exec(text);
  assert.ok(ts, 'ts is described');
  const schema = JSON.parse(ts[1]!) as { anyOf: { type: string; title: string; examples: unknown[] }[] };
  assert.deepEqual(
    schema.anyOf.map((s) => [s.type, s.title]),
    [
      ['string', 'RFC 3339 timestamp'],
      ['integer', 'epoch milliseconds'],
    ],
  );
  assert.ok(schema.anyOf.every((s) => s.examples.length > 0));
});

test('the request examples are accepted as they are', async () => {
  const examples = examplesOf(doc.paths['/v1/events']!.post!.requestBody!.content['application/json']);
  assert.ok(examples.length >= 3);
  for (const body of examples) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: JSON_HEADERS,
      payload: JSON.stringify(body),
    });
    assert.equal(res.statusCode, 202, `${JSON.stringify(body)}: ${res.body}`);
  }
});

test('each error example carries a code that the API answers with that status', () => {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, reply] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        for (const example of examplesOf(reply.content?.['application/json'])) {
          const { error, message } = example as { error: keyof typeof HTTP_ERRORS; message: string };
          assert.equal(HTTP_ERRORS[error].status, Number(status), `${method} ${path} ${status}: ${error}`);
          assert.equal(typeof message, 'string');
        }
      }
    }
  }
});

type Reply = Awaited<ReturnType<typeof app.inject>>;
type TestApp = Awaited<ReturnType<typeof buildTestApp>>;
const sendEvents = (t: TestApp, payload: string | Buffer, headers: Record<string, string> = JSON_HEADERS) =>
  t.app.inject({ method: 'POST', url: '/v1/events', headers, payload });
const askStatus = (t: TestApp, eventId: string, headers: Record<string, string> = JSON_HEADERS) =>
  t.app.inject({ method: 'GET', url: `/v1/events/${encodeURIComponent(eventId)}`, headers });
const down = new TradewatchError('KAFKA_ERROR', 'broker down', { retriable: true });
const bug = new TradewatchError('KAFKA_ERROR', 'MESSAGE_TOO_LARGE');
const example = trade('x');

/** For each error example of the document, a request that the API answers with it. */
const SCENARIOS: Record<string, (t: TestApp) => Promise<Reply>> = {
  'POST /v1/events 400 invalid_events': (t) =>
    sendEvents(
      t,
      JSON.stringify({
        events: [login(1, { amout: 5 }), trade(2), trade(3, { ts: Math.floor(NOW / 1000) })],
      }),
    ),
  'POST /v1/events 400 malformed_json': (t) => sendEvents(t, '{"eventId": '),
  'POST /v1/events 400 invalid_body': (t) => sendEvents(t, JSON.stringify({ event: [example] })),
  'POST /v1/events 401 unauthorized': (t) =>
    sendEvents(t, JSON.stringify(example), { 'content-type': 'application/json' }),
  'POST /v1/events 409 event_id_conflict': async (t) => {
    await sendEvents(t, JSON.stringify(example));
    return sendEvents(t, JSON.stringify({ events: [trade('y'), { ...example, amount: 11 }] }));
  },
  'POST /v1/events 413 body_too_large': (t) => sendEvents(t, ' '.repeat(1024 * 1024 + 1)),
  'POST /v1/events 415 compressed': (t) =>
    sendEvents(t, gzipSync(JSON.stringify(example)), { ...JSON_HEADERS, 'content-encoding': 'gzip' }),
  'POST /v1/events 415 media_type': (t) =>
    sendEvents(t, JSON.stringify(example), { ...JSON_HEADERS, 'content-type': 'text/plain' }),
  'POST /v1/events 429 rate_limited': (t) => {
    t.rateGate.limit = 0;
    return sendEvents(t, JSON.stringify(example));
  },
  'POST /v1/events 500 internal': (t) => {
    t.publisher.failWith = bug;
    return sendEvents(t, JSON.stringify(example));
  },
  'POST /v1/events 503 unavailable': (t) => {
    t.publisher.failWith = down;
    return sendEvents(t, JSON.stringify(example));
  },
  'POST /v1/events 503 in_progress': async (t) => {
    await t.ledger.claim('live', [{ eventId: example.eventId, fingerprint: 'f' }], 'another request', 30_000);
    return sendEvents(t, JSON.stringify(example));
  },
  'GET /v1/events/{eventId} 400 invalid_event_id': (t) => askStatus(t, 'gs-eu-1:trade 9911'),
  'GET /v1/events/{eventId} 401 unauthorized': (t) => askStatus(t, 'gs-eu-1:trade:9911', {}),
  'GET /v1/events/{eventId} 404 not_found': (t) => askStatus(t, 'gs-eu-1:trade:9912'),
  'GET /v1/events/{eventId} 500 internal': (t) => {
    t.ledger.failWith = bug;
    return askStatus(t, 'gs-eu-1:trade:9911');
  },
  'GET /v1/events/{eventId} 503 unavailable': (t) => {
    t.ledger.failWith = down;
    return askStatus(t, 'gs-eu-1:trade:9911');
  },
};

test('each error example is the reply the API gives: its status and its body, message included', async () => {
  const seen: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, reply] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const media = reply.content?.['application/json'];
        for (const [name, { value }] of Object.entries(media?.examples ?? {})) {
          const key = `${method.toUpperCase()} ${path} ${status} ${name}`;
          seen.push(key);
          const scenario = SCENARIOS[key];
          assert.ok(scenario, `${key}: no request in this test produces it`);
          const res = await scenario(await buildTestApp({ now: () => NOW + 3_600_000 }));
          assert.equal(res.statusCode, Number(status), `${key}: ${res.body}`);
          assert.deepEqual(res.json(), value, key);
        }
      }
    }
  }
  assert.deepEqual(
    seen.sort(),
    Object.keys(SCENARIOS).sort(),
    'every scenario is an example of the document',
  );
});
