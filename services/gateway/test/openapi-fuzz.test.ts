// Property-based fuzzing of the API from its own OpenAPI document (/docs/json), over real HTTP on
// loopback, with in-memory ports. Request bodies are generated from the documented schema, then
// mutated (unknown fields, dropped fields, wrong values, random JSON, random bytes, other media
// types, bad credentials). Properties: no 5xx and no crash; every status is one the document
// lists; every rejection has the documented error shape; whatever is accepted is published
// exactly as the processor's decoder accepts it. The number of cases is bounded (FUZZ_RUNS).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEvent, encodeEvent } from '@tradewatch/shared/events';
import { AUTH, NOW, buildTestApp } from './support/memory-ports.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

interface Schema {
  type?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
}

/** A fast-check arbitrary of the values a JSON Schema (the subset the document uses) allows. */
const arbitraryOf = (s: Schema): fc.Arbitrary<unknown> => {
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map(arbitraryOf));
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.const !== undefined) return fc.constant(s.const);
  switch (s.type) {
    case 'object': {
      const props = Object.fromEntries(
        Object.entries(s.properties ?? {}).map(([k, v]) => [k, arbitraryOf(v)]),
      );
      return fc.record(props, { requiredKeys: s.required ?? [] });
    }
    case 'array':
      // Batches are kept short: the size bounds are tested exactly in validation.test.ts.
      return fc.array(arbitraryOf(s.items ?? {}), {
        minLength: s.minItems ?? 0,
        maxLength: Math.min(s.maxItems ?? 5, 5),
      });
    case 'string': {
      const min = s.minLength ?? 0;
      const max = s.maxLength ?? 64;
      const base = s.pattern
        ? fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= min && x.length <= max)
        : fc.oneof(
            fc.string({ minLength: min, maxLength: max, unit: 'grapheme' }),
            // Values that the document cannot describe but the server must judge: times and IPs.
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.ipV4(),
            fc.ipV6(),
          );
      return base.filter((x) => x.length >= min && x.length <= max);
    }
    case 'integer':
      return fc.oneof(
        fc.integer({ min: s.minimum ?? Number.MIN_SAFE_INTEGER, max: s.maximum ?? Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: NOW - 10 * 365 * 86_400_000, max: NOW + 2 * 86_400_000 }),
      );
    case 'number':
      return fc.double({
        min: s.exclusiveMinimum ?? s.minimum ?? -1e15,
        max: s.maximum ?? 1e15,
        minExcluded: s.exclusiveMinimum !== undefined,
        noNaN: true,
        noDefaultInfinity: true,
      });
    default:
      return fc.jsonValue();
  }
};

/** Mutations of a valid-looking body that the server must reject cleanly (or accept, if still valid). */
const mutate = (body: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc
      .tuple(body, fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }))
      .map(([b, k, v]) => (typeof b === 'object' && b !== null ? { ...b, [k]: v } : b)),
    fc.tuple(body, fc.nat()).map(([b, i]) => {
      if (typeof b !== 'object' || b === null) return b;
      const keys = Object.keys(b);
      const copy = { ...(b as Record<string, unknown>) };
      if (keys.length > 0) delete copy[keys[i % keys.length]!];
      return copy;
    }),
    fc.tuple(body, fc.nat(), fc.jsonValue({ maxDepth: 12 })).map(([b, i, v]) => {
      if (typeof b !== 'object' || b === null) return b;
      const keys = Object.keys(b);
      return keys.length > 0 ? { ...b, [keys[i % keys.length]!]: v } : b;
    }),
    fc.jsonValue({ maxDepth: 12 }),
    fc.array(body, { minLength: 0, maxLength: 3 }).map((events) => ({ events })),
  );

const { app, publisher, lines } = await buildTestApp({ now: () => NOW });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
after(() => app.close());
const doc = (await (await fetch(`${base}/docs/json`)).json()) as {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      { requestBody?: { content: Record<string, { schema: Schema }> }; responses: Record<string, unknown> }
    >
  >;
};
const op = doc.paths['/v1/events']!.post!;
const bodySchema = op.requestBody!.content['application/json']!.schema;
const documented = new Set(Object.keys(op.responses).map(Number));

const checkReply = async (res: Response, sentEvents: number | undefined): Promise<void> => {
  assert.ok(res.status < 500, `5xx: ${res.status} ${await res.clone().text()}`);
  assert.ok(documented.has(res.status), `status ${res.status} is not in the OpenAPI document`);
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status === 202) {
    assert.equal(typeof body.accepted, 'number');
    assert.equal(typeof body.duplicates, 'number');
    if (sentEvents !== undefined)
      assert.equal((body.accepted as number) + (body.duplicates as number), sentEvents);
    return;
  }
  assert.equal(typeof body.error, 'string', JSON.stringify(body));
  assert.equal(typeof body.message, 'string', JSON.stringify(body));
  if (res.status === 429 || res.status === 503) assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
  const extra = Object.keys(body).filter((k) => !['error', 'message', 'details', 'indexes'].includes(k));
  assert.deepEqual(extra, []);
  if (body.indexes !== undefined) {
    assert.equal(res.status, 409);
    for (const i of body.indexes as unknown[]) {
      assert.ok(Number.isInteger(i) && (i as number) >= 0);
      if (sentEvents !== undefined) assert.ok((i as number) < sentEvents);
    }
  }
  if (body.details !== undefined) {
    for (const d of body.details as { index: unknown; path: unknown; message: unknown }[]) {
      assert.ok(Number.isInteger(d.index) && (d.index as number) >= 0);
      if (sentEvents !== undefined) assert.ok((d.index as number) < sentEvents);
      assert.match(String(d.path), /^\//);
      assert.equal(typeof d.message, 'string');
    }
  }
};

const countEvents = (body: unknown): number | undefined => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const events = (body as { events?: unknown }).events;
  return events === undefined ? 1 : Array.isArray(events) ? events.length : undefined;
};

const postJson = (
  body: unknown,
  headers: Record<string, string> = { ...AUTH, 'content-type': 'application/json' },
) => fetch(`${base}/v1/events`, { method: 'POST', headers, body: JSON.stringify(body) });

test('the document is OpenAPI 3.1 and describes the ingest operation', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(documented.has(202) && documented.has(400) && documented.has(503));
});

test('bodies generated from the documented schema: 202 or a documented 4xx, and what is accepted decodes', async () => {
  await fc.assert(
    fc.asyncProperty(arbitraryOf(bodySchema), async (body) => {
      const before = publisher.published.length;
      const res = await postJson(body);
      await checkReply(res, countEvents(body));
      for (const ev of publisher.published.slice(before))
        assert.equal(decodeEvent(Buffer.from(encodeEvent(ev))).ok, true);
    }),
    { numRuns: RUNS },
  );
  assert.ok(publisher.published.length > 0, 'the generator reached the accepting path');
});

test('mutated and random bodies are rejected with the documented error shape, never a 5xx', async () => {
  await fc.assert(
    fc.asyncProperty(mutate(arbitraryOf(bodySchema)), async (body) => {
      await checkReply(await postJson(body), countEvents(body));
    }),
    { numRuns: RUNS },
  );
});

test('random bytes, media types and credentials', async () => {
  const headerArb = fc.record(
    {
      'content-type': fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
        '',
      ),
      authorization: fc.oneof(
        fc.constant(AUTH.authorization),
        fc.string({ maxLength: 40 }).map((t) => `Bearer ${t}`),
        fc.string(),
      ),
      'content-encoding': fc.constantFrom('gzip', 'identity', 'br'),
    },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(headerArb, fc.uint8Array({ maxLength: 300 }), async (headers, bytes) => {
      const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(v)));
      const res = await fetch(`${base}/v1/events`, { method: 'POST', headers: clean, body: bytes });
      await checkReply(res, undefined);
    }),
    { numRuns: RUNS },
  );
});

test('the server is still alive and logged no unexpected error', async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.deepEqual(
    lines.filter((l) => l.includes('"level":50') || l.includes('"level":60')),
    [],
  );
});
