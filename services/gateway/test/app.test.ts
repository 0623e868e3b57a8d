// Every outcome of docs/integrators.md, "Sending", through app.inject() with in-memory ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { TradewatchError } from '@tradewatch/shared/errors';
import { AUTH, JSON_HEADERS, NOW, TOKEN_B, buildTestApp, login, trade } from './support/memory-ports.ts';
import { waitUntil } from '../../../test/support/harness.ts';

const post = (body: unknown, headers: Record<string, string> = JSON_HEADERS) => ({
  method: 'POST' as const,
  url: '/v1/events',
  headers,
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

const unavailable = () => new TradewatchError('KAFKA_ERROR', 'broker down', { retriable: true });

test('202: one event is published, stamped with the token owner and normalised', async () => {
  const { app, publisher } = await buildTestApp();
  const res = await app.inject(
    post(login(1, { ip: '2001:DB8:0:0:0:0:0:1', ts: '2026-11-25T13:00:00+01:00' })),
  );
  assert.equal(res.statusCode, 202);
  assert.deepEqual(res.json(), { accepted: 1, duplicates: 0 });
  assert.deepEqual(publisher.published, [
    {
      eventId: 'login-1',
      type: 'login',
      userId: 'user-1',
      ts: NOW,
      ip: '2001:db8::1',
      gameServerId: 'gs-alpha',
      receivedAt: NOW,
    },
  ]);
});

test('202: a batch is published in request order, identity from the token of each server', async () => {
  const { app, publisher } = await buildTestApp();
  const events = [login(1), trade(1), trade(2, { userId: 'user-2' }), trade(3)];
  const res = await app.inject(
    post({ events }, { authorization: `bearer ${TOKEN_B}`, 'content-type': 'application/json' }),
  );
  assert.equal(res.statusCode, 202);
  assert.deepEqual(res.json(), { accepted: 4, duplicates: 0 });
  assert.deepEqual(
    publisher.published.map((e) => [e.eventId, e.gameServerId]),
    events.map((e) => [e.eventId, 'gs-beta']),
  );
});

test('202 with duplicates: a retried request publishes nothing again; repeats inside a request count once', async () => {
  const { app, publisher } = await buildTestApp();
  const first = await app.inject(post({ events: [trade(1), trade(2), trade(1)] }));
  assert.deepEqual(first.json(), { accepted: 2, duplicates: 1 });
  const retry = await app.inject(post({ events: [trade(1), trade(2), trade(3)] }));
  assert.equal(retry.statusCode, 202);
  assert.deepEqual(retry.json(), { accepted: 1, duplicates: 2 });
  assert.deepEqual(
    publisher.published.map((e) => e.eventId),
    ['trade-1', 'trade-2', 'trade-3'],
  );
});

test('409 event_id_conflict: an accepted eventId reused with other content names the indexes; nothing is published', async () => {
  const { app, publisher } = await buildTestApp();
  assert.equal((await app.inject(post({ events: [trade(1), login(1)] }))).statusCode, 202);
  for (const changed of [
    trade(1, { amount: 11 }),
    trade(1, { userId: 'user-2' }),
    { ...login(1), eventId: 'trade-1' },
    trade(1, { itemId: 'sword' }),
  ]) {
    const res = await app.inject(post({ events: [trade(2), changed, trade(3)] }));
    assert.equal(res.statusCode, 409, JSON.stringify(changed));
    const body = res.json<{ error: string; message: string; indexes: number[] }>();
    assert.equal(body.error, 'event_id_conflict');
    assert.deepEqual(body.indexes, [1]);
    assert.match(body.message, /nothing was published/);
  }
  assert.deepEqual(
    publisher.published.map((e) => e.eventId),
    ['trade-1', 'login-1'],
    'nothing of a conflicting request is published',
  );
  // Its other events were not left claimed: they go through once the conflict is fixed.
  const fixed = await app.inject(post({ events: [trade(2), trade(1), trade(3)] }));
  assert.deepEqual([fixed.statusCode, fixed.json()], [202, { accepted: 2, duplicates: 1 }]);
});

test('409 within one request; an exact retry stays a 202 duplicate, ts as text or epoch ms alike', async () => {
  const { app, publisher } = await buildTestApp();
  const inRequest = await app.inject(
    post({ events: [trade(1), trade(2), trade(1, { amount: 99 }), trade(1)] }),
  );
  assert.equal(inRequest.statusCode, 409);
  assert.deepEqual(inRequest.json<{ indexes: number[] }>().indexes, [2]);
  assert.equal(publisher.calls, 0);

  const first = await app.inject(post(login(1, { ts: '2026-11-25T12:00:00Z', ip: '::ffff:203.0.113.7' })));
  assert.deepEqual(first.json(), { accepted: 1, duplicates: 0 });
  // The same event, written differently: ts in epoch ms, the IP in its IPv4 form.
  const same = await app.inject(post(login(1, { ts: NOW, ip: '203.0.113.7' })));
  assert.deepEqual([same.statusCode, same.json()], [202, { accepted: 0, duplicates: 1 }]);
  const other = await app.inject(post(login(1, { ts: NOW + 1 })));
  assert.equal(other.statusCode, 409);
});

test('409 when another game server reuses an eventId; the status of it stays with its owner', async () => {
  const { app } = await buildTestApp();
  assert.equal((await app.inject(post(trade(1)))).statusCode, 202);
  const other = { authorization: `Bearer ${TOKEN_B}`, 'content-type': 'application/json' };
  const res = await app.inject(post(trade(1), other));
  assert.equal(res.statusCode, 409);
  const lookup = await app.inject({ method: 'GET', url: '/v1/events/trade-1', headers: other });
  assert.equal(lookup.statusCode, 404);
});

test('202 duplicates: an id accepted by a gateway that kept no record is a duplicate, never a conflict', async () => {
  const { app, ledger, publisher } = await buildTestApp();
  ledger.acceptWithoutRecord('trade-1');
  const res = await app.inject(post(trade(1, { amount: 12345 })));
  assert.deepEqual([res.statusCode, res.json()], [202, { accepted: 0, duplicates: 1 }]);
  assert.equal(publisher.calls, 0);
});

test('400 invalid_events: each problem names the event index and JSON path; nothing is published', async () => {
  const { app, publisher, ledger } = await buildTestApp();
  const events: Record<string, unknown>[] = Array.from({ length: 1000 }, (_, i) => trade(i));
  events[3] = trade(3, { amout: 5 });
  events[999] = login(999, { ip: '999.1.1.1' });
  const res = await app.inject(post({ events }));
  assert.equal(res.statusCode, 400);
  const body = res.json<{ error: string; message: string; details: { index: number; path: string }[] }>();
  assert.equal(body.error, 'invalid_events');
  assert.match(body.message, /2 of 1000/);
  assert.deepEqual(
    body.details.map((d) => [d.index, d.path]),
    [
      [3, '/amout'],
      [999, '/ip'],
    ],
  );
  assert.equal(publisher.calls, 0);
  assert.equal(ledger.isAccepted('trade-0'), false, 'a rejected batch must not mark its valid events');
});

test('400 malformed_json and invalid_body', async () => {
  const { app, publisher } = await buildTestApp();
  const cases: [string, string][] = [
    ['{"eventId": ', 'malformed_json'],
    ['', 'malformed_json'],
    ['[]', 'invalid_body'],
    ['"text"', 'invalid_body'],
    ['null', 'invalid_body'],
    ['{"events": {}}', 'invalid_body'],
    ['{"events": []}', 'invalid_body'],
    [JSON.stringify({ events: [trade(1)], gameServerId: 'spoofed' }), 'invalid_body'],
    [JSON.stringify({ event: [trade(1)] }), 'invalid_body'],
  ];
  for (const [payload, error] of cases) {
    const res = await app.inject(post(payload));
    assert.equal(res.statusCode, 400, payload);
    assert.equal(res.json<{ error: string }>().error, error, payload);
    assert.equal(typeof res.json<{ message: string }>().message, 'string');
  }
  // The batch wrapper misspelt: said so, not validated as one event without a type.
  const typo = await app.inject(post({ event: [trade(1), trade(2)] }));
  assert.equal(
    typo.json<{ message: string }>().message,
    'unexpected field "event" (an array): a batch is {"events": [...]}',
  );
  const bytes = Buffer.from('{"eventId":"x\xff"}', 'latin1');
  const res = await app.inject({ ...post(''), payload: bytes });
  assert.equal(res.statusCode, 400);
  assert.match(res.json<{ message: string }>().message, /UTF-8/);
  assert.equal(publisher.calls, 0);
});

test('400: gameServerId comes from the token, never from the body', async () => {
  const { app } = await buildTestApp();
  const res = await app.inject(post(trade(1, { gameServerId: 'someone-else' })));
  assert.equal(res.statusCode, 400);
  assert.equal(res.json<{ details: { path: string }[] }>().details[0]?.path, '/gameServerId');
});

test('415: only application/json in UTF-8, uncompressed', async () => {
  const { app, publisher } = await buildTestApp();
  const body = JSON.stringify(trade(1));
  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'application/json; charset=iso-8859-1',
    'application/jsonx',
    'application/vnd.api+json',
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...AUTH, 'content-type': type },
      payload: body,
    });
    assert.equal(res.statusCode, 415, type);
    assert.equal(res.json<{ error: string }>().error, 'unsupported_media_type');
  }
  const noType = await app.inject({ method: 'POST', url: '/v1/events', headers: AUTH });
  assert.equal(noType.statusCode, 415);
  const gz = await app.inject(post(body, { ...JSON_HEADERS, 'content-encoding': 'gzip' }));
  assert.equal(gz.statusCode, 415);
  // A body really compressed (not UTF-8) is refused for its encoding, not as malformed JSON.
  for (const [encoding, payload] of [
    ['gzip', gzipSync(body)],
    ['GZIP', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['br', brotliCompressSync(body)],
    ['identity, gzip', gzipSync(body)],
    ['x-unknown', Buffer.from(body)],
  ] as const) {
    const res = await app.inject({
      ...post(''),
      headers: { ...JSON_HEADERS, 'content-encoding': encoding },
      payload,
    });
    assert.equal(res.statusCode, 415, encoding);
    const reply = res.json<{ error: string; message: string }>();
    assert.equal(reply.error, 'unsupported_media_type', encoding);
    assert.match(reply.message, /Content-Encoding/, encoding);
  }
  const unauthenticated = await app.inject({
    ...post(''),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: gzipSync(body),
  });
  assert.equal(unauthenticated.statusCode, 401, 'the token is checked first');
  const identity = await app.inject(post(body, { ...JSON_HEADERS, 'content-encoding': 'Identity' }));
  assert.deepEqual([identity.statusCode, identity.json()], [202, { accepted: 1, duplicates: 0 }]);
  const ok = await app.inject(post(body, { ...AUTH, 'content-type': 'Application/JSON; Charset="UTF-8"' }));
  assert.equal(ok.statusCode, 202);
  assert.equal(publisher.calls, 1);
});

test('401: missing, unknown or malformed credentials, checked before the body is read', async () => {
  const { app, publisher } = await buildTestApp();
  const body = JSON.stringify(trade(1));
  for (const authorization of [
    undefined,
    'Bearer nope',
    `Basic ${TOKEN_B}`,
    'Bearer',
    `Bearer ${TOKEN_B}x`,
    `Bearer ${'a'.repeat(600)}`,
  ]) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await app.inject(post(body, headers));
    assert.equal(res.statusCode, 401, String(authorization));
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    assert.equal(res.json<{ error: string }>().error, 'unauthorized');
  }
  const garbage = await app.inject(post('{not json', { 'content-type': 'application/json' }));
  assert.equal(garbage.statusCode, 401, 'an unauthenticated body is never parsed');
  assert.equal(publisher.calls, 0);
});

test('413: a body of 1 MiB passes, 1 MiB + 1 byte does not', async () => {
  const { app, publisher } = await buildTestApp();
  const json = JSON.stringify({ events: [trade(1)] });
  const exact = json.slice(0, -1) + ' '.repeat(1024 * 1024 - json.length) + '}';
  assert.equal(Buffer.byteLength(exact), 1024 * 1024);
  const ok = await app.inject(post(exact));
  assert.equal(ok.statusCode, 202);
  const over = await app.inject(post(exact + ' '));
  assert.equal(over.statusCode, 413);
  assert.equal(over.json<{ error: string }>().error, 'body_too_large');
  assert.equal(publisher.calls, 1);
});

test('429: over the rate of this game server, with Retry-After; nothing published', async () => {
  const { app, publisher, rateGate } = await buildTestApp();
  rateGate.limit = 3;
  assert.equal((await app.inject(post({ events: [trade(1), trade(2)] }))).statusCode, 202);
  const res = await app.inject(post({ events: [trade(3), trade(4)] }));
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers['retry-after'], '1');
  assert.equal(res.json<{ error: string }>().error, 'rate_limited');
  assert.equal(publisher.published.length, 2);
  const other = await app.inject(
    post(trade(5), { authorization: `Bearer ${TOKEN_B}`, 'content-type': 'application/json' }),
  );
  assert.equal(other.statusCode, 202, 'the budget is per game server');
});

test('503: Kafka unavailable; the claims are released and the retry publishes once', async () => {
  const { app, publisher } = await buildTestApp();
  publisher.failWith = unavailable();
  const res = await app.inject(post({ events: [trade(1), trade(2)] }));
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '1');
  assert.deepEqual(res.json(), {
    error: 'unavailable',
    message: 'a dependency is unavailable; retry shortly',
  });
  publisher.failWith = undefined;
  const retry = await app.inject(post({ events: [trade(1), trade(2)] }));
  assert.deepEqual(retry.json(), { accepted: 2, duplicates: 0 });
  assert.equal(publisher.published.length, 2);
});

test('503 within the publish bound when Kafka hangs; a late acknowledgement makes the retry a duplicate', async () => {
  const { app, publisher, ledger } = await buildTestApp({ publishTimeoutMs: 150 });
  publisher.hold = true;
  const res = await app.inject(post(trade(1)));
  // Answered by the publish bound: the publish itself is still held, unanswered.
  assert.equal(res.statusCode, 503);
  assert.equal(publisher.held.length, 1);
  assert.equal(publisher.published.length, 0, 'the publish is still in flight');
  assert.match(res.json<{ message: string }>().message, /did not acknowledge within 150 ms/);
  assert.ok(res.headers['retry-after']);

  const during = await app.inject(post(trade(1)));
  assert.equal(
    during.statusCode,
    503,
    'a retry while the first publish is in flight must not publish a copy',
  );
  assert.equal(during.json<{ error: string }>().error, 'in_progress');

  publisher.held[0]!.release();
  await waitUntil('the late ack to be recorded', () => ledger.isAccepted('trade-1'), 2000, 10);
  publisher.hold = false;
  const retry = await app.inject(post(trade(1)));
  assert.deepEqual(retry.json(), { accepted: 0, duplicates: 1 });
  assert.equal(publisher.published.length, 1);
});

test('a publish outliving its request keeps its claims past the claim TTL: a retry meanwhile publishes no copy', async () => {
  const { app, publisher, ledger, clock } = await buildTestApp({ publishTimeoutMs: 50, claimTtlMs: 300 });
  try {
    publisher.hold = true;
    assert.equal((await app.inject(post(trade(1)))).statusCode, 503);
    clock.ms += 250;
    await waitUntil('the claims to be extended', () => ledger.extended > 0, 2000, 10);
    clock.ms += 200; // past the first claim's expiry
    const retry = await app.inject(post(trade(1)));
    assert.equal(retry.json<{ error: string }>().error, 'in_progress');
    assert.equal(publisher.calls, 1, 'no second publish');
    publisher.held[0]!.release();
    await waitUntil('the late ack to be recorded', () => ledger.isAccepted('trade-1'), 2000, 10);
    const extendedBefore = ledger.extended;
    publisher.hold = false;
    assert.deepEqual((await app.inject(post(trade(1)))).json(), { accepted: 0, duplicates: 1 });
    await new Promise((r) => setImmediate(r));
    assert.equal(ledger.extended, extendedBefore, 'no more extensions once settled');
  } finally {
    // Whatever failed above, nothing stays held (the test process must be able to end).
    publisher.hold = false;
    for (const h of publisher.held) h.release();
    await app.close();
  }
});

test('503 within the bound; a late failure frees the ids and the retry publishes', async () => {
  const { app, publisher } = await buildTestApp({ publishTimeoutMs: 100 });
  publisher.hold = true;
  assert.equal((await app.inject(post(trade(1)))).statusCode, 503);
  publisher.held[0]!.fail(unavailable());
  publisher.hold = false;
  let retry: Awaited<ReturnType<typeof app.inject>> | undefined;
  await waitUntil(
    'the claim to be released',
    async () => {
      retry = await app.inject(post(trade(1)));
      return retry.statusCode === 202;
    },
    2000,
    10,
  );
  assert.deepEqual(retry!.json(), { accepted: 1, duplicates: 0 });
});

test('503 at once when too many events are waiting for Kafka (no unbounded queue)', async () => {
  const { app, publisher } = await buildTestApp({ publishTimeoutMs: 5000, maxPendingEvents: 1000 });
  publisher.hold = true;
  const first = app.inject(post({ events: Array.from({ length: 800 }, (_, i) => trade(i)) }));
  await waitUntil('the first publish', () => publisher.held.length === 1, 2000, 10);
  const second = await app.inject(post({ events: Array.from({ length: 300 }, (_, i) => trade(1000 + i)) }));
  // Refused before any publish (not after the 5 s publish bound): nothing more was handed to Kafka.
  assert.equal(second.statusCode, 503);
  assert.match(second.json<{ message: string }>().message, /too many events waiting for Kafka/);
  assert.equal(publisher.held.length, 1, 'the second request never reached the publisher');
  publisher.held[0]!.release();
  assert.equal((await first).statusCode, 202);
});

test('503 when Redis is unavailable (ledger or rate gate); nothing published', async () => {
  const redisDown = new TradewatchError('REDIS_UNAVAILABLE', 'redis: connection refused', {
    retriable: true,
  });
  const a = await buildTestApp();
  a.ledger.failWith = redisDown;
  const res = await a.app.inject(post(trade(1)));
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '1');
  assert.equal(a.publisher.calls, 0);
  const b = await buildTestApp();
  b.rateGate.failWith = redisDown;
  assert.equal((await b.app.inject(post(trade(1)))).statusCode, 503);
  assert.equal(b.publisher.calls, 0);
});

test('202 when Kafka acknowledged but recording the ids in Redis failed', async () => {
  const { app, publisher, ledger, lines } = await buildTestApp();
  ledger.failMarkWith = new TradewatchError('REDIS_UNAVAILABLE', 'redis: timeout', { retriable: true });
  const res = await app.inject(post(trade(1)));
  assert.equal(res.statusCode, 202);
  assert.equal(publisher.published.length, 1);
  assert.ok(lines.some((l) => l.includes('could not record as accepted')));
});

test('crash after the claim: the retry gets 503 in_progress until the claim expires, then publishes', async () => {
  const { app, publisher, ledger, clock } = await buildTestApp({ claimTtlMs: 30_000 });
  await ledger.claim('live', [{ eventId: 'trade-1', fingerprint: 'fp' }], 'a-crashed-request', 30_000);
  const during = await app.inject(post({ events: [trade(0), trade(1)] }));
  assert.equal(during.statusCode, 503);
  assert.equal(during.json<{ error: string }>().error, 'in_progress');
  assert.equal(publisher.calls, 0);
  clock.ms += 30_001;
  const after = await app.inject(post({ events: [trade(0), trade(1)] }));
  assert.deepEqual(after.json(), { accepted: 2, duplicates: 0 });
});

test('500: a non-retriable failure is an internal error, not a 202 and not a hang', async () => {
  const { app, publisher } = await buildTestApp();
  publisher.failWith = new TradewatchError('KAFKA_ERROR', 'MESSAGE_TOO_LARGE');
  const res = await app.inject(post(trade(1)));
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { error: 'internal', message: 'internal error' });
});

test('404 for unknown routes; /healthz, /readyz and the OpenAPI document are public', async () => {
  let redisUp = true;
  const { app } = await buildTestApp({
    readiness: [
      { name: 'kafka', check: () => Promise.resolve() },
      {
        name: 'redis',
        check: () => (redisUp ? Promise.resolve() : Promise.reject(new Error('connection refused'))),
      },
    ],
  });
  const missing = await app.inject({ method: 'GET', url: '/v1/nothing' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<{ error: string }>().error, 'not_found');
  assert.equal((await app.inject({ method: 'GET', url: '/v1/events' })).statusCode, 404);
  assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual(
    [ready.statusCode, ready.json()],
    [200, { ready: true, checks: { kafka: 'ok', redis: 'ok' } }],
  );
  redisUp = false;
  const notReady = await app.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual(
    [notReady.statusCode, notReady.json()],
    [503, { ready: false, checks: { kafka: 'ok', redis: 'connection refused' } }],
  );
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
    paths: Record<string, unknown>;
  }>();
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/healthz',
    '/readyz',
    '/v1/events',
    '/v1/events/{eventId}',
  ]);
  const page = await app.inject({ method: 'GET', url: '/docs/' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
});

test('/readyz answers within its bound when a check hangs', async () => {
  const { app } = await buildTestApp({
    readinessTimeoutMs: 100,
    readiness: [{ name: 'kafka', check: () => new Promise(() => undefined) }],
  });
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(res.statusCode, 503);
  assert.deepEqual(res.json(), { ready: false, checks: { kafka: 'no answer within 100 ms' } });
});

test('request ids: taken from X-Request-Id when sane, echoed, and on every log line of the request', async () => {
  const { app, publisher, lines } = await buildTestApp();
  publisher.failWith = unavailable();
  const res = await app.inject(post(trade(1), { ...JSON_HEADERS, 'x-request-id': 'req-42' }));
  assert.equal(res.headers['x-request-id'], 'req-42');
  const mine = lines
    .map((l) => JSON.parse(l) as { reqId?: string; msg: string })
    .filter((l) => l.reqId === 'req-42');
  assert.deepEqual(
    mine.map((l) => l.msg),
    ['request failed', 'request completed'],
  );
  const generated = await app.inject(
    post(trade(2), { ...JSON_HEADERS, 'x-request-id': 'bad id with spaces' }),
  );
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('graceful close over a real socket: the request in flight gets its 202, new requests get no 202', async () => {
  const { app, publisher } = await buildTestApp({ publishTimeoutMs: 5000 });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  publisher.hold = true;
  const send = (i: number) =>
    fetch(`${address}/v1/events`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(trade(i)) });
  const inFlight = send(1);
  await waitUntil('the publish to start', () => publisher.held.length === 1, 2000, 10);
  let closed = false;
  const closing = app.close().then(() => {
    closed = true;
  });
  const late = await send(2).then(
    (r) => r.status,
    () => 'refused',
  );
  assert.ok(late === 503 || late === 'refused', `a request after close began got ${late}`);
  assert.equal(closed, false, 'close must wait for the request in flight');
  publisher.held[0]!.release();
  const res = await inFlight;
  assert.equal(res.status, 202);
  await closing;
  assert.deepEqual(
    publisher.published.map((e) => e.eventId),
    ['trade-1'],
  );
});

test('graceful close waits for a publish that outlived its request', async () => {
  const { app, publisher, ledger } = await buildTestApp({ publishTimeoutMs: 50 });
  publisher.hold = true;
  assert.equal((await app.inject(post(trade(1)))).statusCode, 503);
  // The order of what happens: close may finish only after the held publish was released.
  const order: string[] = [];
  const closing = app.close().then(() => order.push('closed'));
  // Close runs its hooks on later turns of the event loop; give it every chance to finish early.
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  order.push('released');
  publisher.held[0]!.release();
  await closing;
  assert.deepEqual(order, ['released', 'closed']);
  assert.equal(ledger.isAccepted('trade-1'), true, 'the late ack is recorded before the process exits');
});
