// The routes (src/routes/) alone: what each does with its request before handing it on — the
// body read as one event or a batch, the readiness checks bounded, a bad eventId never looked up
// — on a bare fastify with the plugins a route needs, and fakes of what it calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseTokens } from '../src/auth.ts';
import type { EventStatus, EventStatusQuery } from '../src/event-status.ts';
import type { Ingest } from '../src/ingest.ts';
import { bearerAuth } from '../src/plugins/auth.ts';
import { bodyParsing } from '../src/plugins/body-parsing.ts';
import { errorReplies } from '../src/plugins/errors.ts';
import type { Caller } from '../src/ports.ts';
import { eventStatusRoute } from '../src/routes/event-status-route.ts';
import { checkReadiness, healthRoutes } from '../src/routes/health-routes.ts';
import { eventsOf, ingestRoute } from '../src/routes/ingest-route.ts';
import { metricsRoute } from '../src/routes/metrics-route.ts';

const HEADERS = { authorization: 'Bearer token-a', 'content-type': 'application/json' };

/**
 * A bare app with what the /v1 routes take from the app: the caller, JSON bodies, error replies,
 * and path parameters longer than any eventId (app.ts).
 */
const apiApp = async (): Promise<FastifyInstance> => {
  const app = Fastify({ routerOptions: { maxParamLength: 256 } });
  await app.register(bearerAuth, { tokens: parseTokens('gs-a:token-a') });
  await app.register(bodyParsing);
  await app.register(errorReplies, { maxBodyBytes: 1024 });
  return app;
};

const bodyError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`;
  }
  return 'no error';
};

test('eventsOf: one event, or {"events": [...]} of 1 to max events, and nothing beside', () => {
  const one = { type: 'trade', eventId: 'a' };
  assert.deepEqual(eventsOf(one, 3), [one]);
  assert.deepEqual(eventsOf({ events: [one, one, one] }, 3), [one, one, one]);
  // An event with a type is validated as an event, whatever its fields hold.
  assert.deepEqual(eventsOf({ type: 'trade', tags: [1] }, 3), [{ type: 'trade', tags: [1] }]);
  const bodyOnly = 'invalid_body: the body must be one event object or {"events": [...]}';
  for (const body of [null, 'text', 7, [one]])
    assert.equal(
      bodyError(() => eventsOf(body, 3)),
      bodyOnly,
    );
  const bounds = 'invalid_body: "events" must be an array of 1 to 3 events';
  for (const events of [[], [one, one, one, one], {}, 'x']) {
    assert.equal(
      bodyError(() => eventsOf({ events }, 3)),
      bounds,
      JSON.stringify(events),
    );
  }
  assert.equal(
    bodyError(() => eventsOf({ events: [one], gameServerId: 'x', sandbox: true }, 3)),
    'invalid_body: unexpected field(s) beside "events": gameServerId, sandbox',
  );
  assert.equal(
    bodyError(() => eventsOf({ event: [one] }, 3)),
    'invalid_body: unexpected field "event" (an array): a batch is {"events": [...]}',
  );
});

test('POST /v1/events hands the caller and the events to the ingest, and answers 202 with its result', async () => {
  const calls: [Caller, readonly unknown[]][] = [];
  const ingest: Pick<Ingest, 'accept'> = {
    accept: (caller, rawEvents) => {
      calls.push([caller, rawEvents]);
      return Promise.resolve({ accepted: rawEvents.length, duplicates: 0 });
    },
  };
  const app = await apiApp();
  await app.register(ingestRoute, { ingest, maxEventsPerRequest: 2 });
  const post = (payload: unknown, headers: Record<string, string> = HEADERS) =>
    app.inject({ method: 'POST', url: '/v1/events', headers, payload: JSON.stringify(payload) });
  const res = await post({ events: [{ a: 1 }, { b: 2 }] });
  assert.deepEqual([res.statusCode, res.json()], [202, { accepted: 2, duplicates: 0 }]);
  assert.deepEqual(calls, [[{ gameServerId: 'gs-a', mode: 'live' }, [{ a: 1 }, { b: 2 }]]]);
  assert.equal((await post({ events: [{}, {}, {}] })).statusCode, 400, 'the route bounds the batch');
  assert.equal((await post({ a: 1 }, { 'content-type': 'application/json' })).statusCode, 401);
  assert.equal((await post({ a: 1 }, { ...HEADERS, 'content-encoding': 'gzip' })).statusCode, 415);
  assert.equal(calls.length, 1, 'nothing refused reaches the ingest');
});

test('GET /v1/events/:eventId: a bad id is refused without a lookup; unknown is 404; found is as the query says', async () => {
  const asked: string[] = [];
  const found = { eventId: 'known' } as EventStatus;
  const status: EventStatusQuery = {
    lookup: (_caller, eventId) => {
      asked.push(eventId);
      return Promise.resolve(eventId === 'known' ? found : undefined);
    },
  };
  const app = await apiApp();
  await app.register(eventStatusRoute, { status });
  const get = (id: string) =>
    app.inject({ method: 'GET', url: `/v1/events/${encodeURIComponent(id)}`, headers: HEADERS });
  assert.deepEqual((await get('known')).json(), found);
  const unknown = await get('gs:x');
  assert.deepEqual(
    [unknown.statusCode, unknown.json<{ message: string }>().message],
    [404, 'no accepted event gs:x of this game server in the idempotency window'],
  );
  for (const bad of ['a b', 'a/b', 'x'.repeat(129), 'é']) {
    const res = await get(bad);
    assert.deepEqual([res.statusCode, res.json<{ error: string }>().error], [400, 'invalid_event_id'], bad);
  }
  assert.deepEqual(asked, ['known', 'gs:x']);
});

test('checkReadiness: every check at once, each bounded; a failure says why', async () => {
  const started = Date.now();
  const r = await checkReadiness(
    [
      { name: 'kafka', check: () => Promise.resolve() },
      { name: 'redis', check: () => Promise.reject(new Error('connection refused')) },
      { name: 'hung', check: () => new Promise(() => undefined) },
      { name: 'slow', check: () => new Promise((resolve) => setTimeout(resolve, 40)) },
    ],
    100,
  );
  assert.deepEqual(r, {
    ready: false,
    checks: { kafka: 'ok', redis: 'connection refused', hung: 'no answer within 100 ms', slow: 'ok' },
  });
  assert.ok(Date.now() - started < 1000, 'the checks ran at once, bounded');
  assert.deepEqual(await checkReadiness([{ name: 'kafka', check: () => Promise.resolve() }], 100), {
    ready: true,
    checks: { kafka: 'ok' },
  });
  assert.deepEqual(await checkReadiness([], 100), { ready: true, checks: {} });
});

test('/healthz and /readyz need no token; /readyz is 503 while a check fails', async () => {
  let redisUp = false;
  const app = Fastify();
  await app.register(healthRoutes, {
    readiness: [
      { name: 'redis', check: () => (redisUp ? Promise.resolve() : Promise.reject(new Error('down'))) },
    ],
    timeoutMs: 100,
  });
  assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
  const down = await app.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual([down.statusCode, down.json()], [503, { ready: false, checks: { redis: 'down' } }]);
  redisUp = true;
  const up = await app.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual([up.statusCode, up.json()], [200, { ready: true, checks: { redis: 'ok' } }]);
});

test('/metrics is the telemetry text with its content type', async () => {
  const app = Fastify();
  const type = 'text/plain; version=0.0.4; charset=utf-8';
  await app.register(metricsRoute, {
    telemetry: { prometheusText: () => Promise.resolve('up 1\n'), prometheusContentType: type },
  });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.deepEqual([res.statusCode, res.headers['content-type'], res.body], [200, type, 'up 1\n']);
});
