// The OpenAPI document as a reference: a server to call, an example for every request and every
// reply, the ts union spelled out, the guarantees written down — and every example true: request
// examples are accepted, error examples carry a code the API answers with that status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_ERRORS } from '../src/errors.ts';
import { JSON_HEADERS, NOW, buildTestApp } from './support/memory-ports.ts';

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
          assert.equal(HTTP_ERRORS[error], Number(status), `${method} ${path} ${status}: ${error}`);
          assert.equal(typeof message, 'string');
        }
      }
    }
  }
});
