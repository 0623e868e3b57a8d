// Each of the app's plugins (src/plugins/) alone on a bare fastify: what it does to every route,
// including the routes of the plugins registered after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginCallback } from 'fastify';
import { TradewatchError } from '@tradewatch/shared/errors';
import { parseTokens } from '../src/auth.ts';
import { HttpError } from '../src/errors.ts';
import { authenticateHook, bearerAuth } from '../src/plugins/auth.ts';
import { bodyParsing, jsonBodyOf, refuseCompressedBody } from '../src/plugins/body-parsing.ts';
import { errorReplies } from '../src/plugins/errors.ts';
import { gracefulClose } from '../src/plugins/graceful-close.ts';
import { openApiDocs } from '../src/plugins/openapi-docs.ts';
import { requestIdOf, requestLog } from '../src/plugins/request-log.ts';
import { unencapsulated } from '../src/plugins/unencapsulated.ts';
import { waitUntil } from '../../../test/support/harness.ts';
import { captureLogger } from './support/memory-ports.ts';

/** A route plugin, registered in a context of its own as the app's routes are. */
const routes =
  (add: (app: FastifyInstance) => void): FastifyPluginCallback =>
  (app, _opts, done) => {
    add(app);
    done();
  };

/** fastify's own request lines off, as in the app: only what the plugins log is seen. */
const quiet = () => new LogController({ disableRequestLogging: true });
const logged = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

test('unencapsulated: what the plugin adds reaches its siblings; a plain plugin keeps it to itself', async () => {
  const app = Fastify();
  await app.register(
    unencapsulated('shared-hook', (a, _opts, done) => {
      a.addHook('onSend', (_req, reply, payload, next) => {
        void reply.header('x-shared', '1');
        next(null, payload);
      });
      done();
    }),
  );
  await app.register((a, _opts, done) => {
    a.addHook('onSend', (_req, reply, payload, next) => {
      void reply.header('x-private', '1');
      next(null, payload);
    });
    done();
  });
  await app.register(routes((a) => a.get('/sibling', () => 'ok')));
  const res = await app.inject({ method: 'GET', url: '/sibling' });
  assert.equal(res.headers['x-shared'], '1');
  assert.equal(res.headers['x-private'], undefined);
  assert.equal(app.hasPlugin('shared-hook'), true);
});

test('error replies: the registry status and body, Retry-After, WWW-Authenticate; 5xx logged, 4xx not', async () => {
  const { logger, lines } = captureLogger();
  const app = Fastify({ loggerInstance: logger, logController: quiet(), bodyLimit: 10 });
  await app.register(errorReplies, { maxBodyBytes: 10 });
  const thrown: Record<string, unknown> = {
    '/429': new HttpError('rate_limited', undefined, { retryAfterSec: 3 }),
    '/401': new HttpError('unauthorized'),
    '/409': new HttpError('event_id_conflict', 'conflict', { indexes: [2] }),
    '/503': new TradewatchError('REDIS_UNAVAILABLE', 'redis down', { retriable: true }),
    '/500': new TypeError('a bug'),
  };
  await app.register(
    routes((a) => {
      for (const [url, err] of Object.entries(thrown)) {
        a.get(url, () => {
          throw err;
        });
      }
      a.post('/body', () => 'read');
    }),
  );
  const get = (url: string) => app.inject({ method: 'GET', url });

  const limited = await get('/429');
  assert.deepEqual(
    [limited.statusCode, limited.headers['retry-after'], limited.json()],
    [429, '3', { error: 'rate_limited', message: 'rate limit of this game server exceeded' }],
  );
  const unauthorized = await get('/401');
  assert.deepEqual([unauthorized.statusCode, unauthorized.headers['www-authenticate']], [401, 'Bearer']);
  assert.equal(unauthorized.headers['retry-after'], undefined);
  assert.deepEqual((await get('/409')).json(), {
    error: 'event_id_conflict',
    message: 'conflict',
    indexes: [2],
  });
  assert.equal(lines.length, 0, "a 4xx is the client's: no log line of its own");

  const unavailable = await get('/503');
  assert.deepEqual(
    [unavailable.statusCode, unavailable.headers['retry-after'], unavailable.json<{ error: string }>().error],
    [503, '1', 'unavailable'],
  );
  const bug = await get('/500');
  assert.deepEqual(bug.json(), { error: 'internal', message: 'internal error' });
  const [warn, error] = logged(lines);
  assert.deepEqual([warn?.level, warn?.msg, warn?.code], [40, 'request failed', 'unavailable']);
  assert.equal((warn?.err as { message: string }).message, 'redis down', 'the cause is logged');
  assert.deepEqual(
    [error?.level, error?.code, (error?.err as { message: string }).message],
    [50, 'internal', 'a bug'],
  );

  const large = await app.inject({
    method: 'POST',
    url: '/body',
    headers: { 'content-type': 'application/json' },
    payload: '{"a": "0123456789"}',
  });
  assert.deepEqual(large.json(), { error: 'body_too_large', message: 'the body exceeds 10 bytes' });
  const missing = await app.inject({ method: 'DELETE', url: `/nothing/${'x'.repeat(300)}` });
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), {
    error: 'not_found',
    message: `no route DELETE /nothing/${'x'.repeat(300)}`.slice(0, 'no route DELETE '.length + 200),
  });
});

test('body parsing: JSON in UTF-8 only; a compressed body or another media type is refused unread', async () => {
  const app = Fastify();
  await app.register(bodyParsing);
  await app.register(errorReplies, { maxBodyBytes: 1024 });
  let handled = 0;
  await app.register(
    routes((a) =>
      a.post('/in', { onRequest: refuseCompressedBody }, (req) => {
        handled++;
        return { got: jsonBodyOf(req) };
      }),
    ),
  );
  const post = (headers: Record<string, string>, payload?: string | Buffer) =>
    app.inject({ method: 'POST', url: '/in', headers, ...(payload === undefined ? {} : { payload }) });
  const json = { 'content-type': 'application/json' };

  assert.deepEqual((await post(json, '{"a":[1]}')).json(), { got: { a: [1] } });
  assert.equal((await post({ ...json, 'content-encoding': 'identity' }, '{}')).statusCode, 200);
  assert.equal(handled, 2);
  const refused: [Record<string, string>, string | Buffer | undefined, string, RegExp][] = [
    [
      { ...json, 'content-encoding': 'gzip' },
      gzipSync('{}'),
      'unsupported_media_type',
      /Content-Encoding: gzip/,
    ],
    [{ 'content-type': 'text/plain' }, '{}', 'unsupported_media_type', /application\/json/],
    [{ 'content-type': 'application/json; charset=latin1' }, '{}', 'unsupported_media_type', /UTF-8/],
    [{}, undefined, 'unsupported_media_type', /application\/json/],
    [json, Buffer.from([0x7b, 0xff, 0x7d]), 'malformed_json', /UTF-8/],
    [json, '[[[[[[[[[[]]]]]]]]]]', 'invalid_body', /deeper than 8/],
  ];
  for (const [headers, payload, error, message] of refused) {
    const res = await post(headers, payload);
    const body = res.json<{ error: string; message: string }>();
    assert.equal(body.error, error, JSON.stringify(headers));
    assert.match(body.message, message, JSON.stringify(headers));
  }
  // The empty request got as far as the handler, which found no body; the others never did.
  assert.equal(handled, 3);
});

test("request ids: the client's when sane, else a UUID", () => {
  const idOf = (value?: string | string[]) =>
    requestIdOf({ headers: value === undefined ? {} : { 'x-request-id': value } } as never);
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  assert.equal(idOf('gs-eu-1:req_42.a'), 'gs-eu-1:req_42.a');
  assert.equal(idOf('a'.repeat(128)), 'a'.repeat(128));
  for (const bad of [undefined, '', 'a'.repeat(129), 'with space', 'ünï', ['a', 'b']]) {
    assert.match(idOf(bad), uuid, String(bad));
  }
});

test('request log: the id echoed, one line per request, info for the ingest route only', async () => {
  const { logger, lines } = captureLogger();
  const app = Fastify({ loggerInstance: logger, logController: quiet(), genReqId: requestIdOf });
  await app.register(requestLog);
  await app.register(
    routes((a) => {
      a.post('/v1/events', (req) => {
        req.eventCount = 3;
        return 'ok';
      });
      a.get('/healthz', () => 'ok');
    }),
  );
  const ingest = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-request-id': 'r-1' } });
  assert.equal(ingest.headers['x-request-id'], 'r-1');
  await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'r-2' } });
  await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'r-3' } });
  const rows = logged(lines).map(({ level, reqId, msg, url, status, events }) => ({
    level,
    reqId,
    msg,
    url,
    status,
    events,
  }));
  assert.deepEqual(rows, [
    { level: 30, reqId: 'r-1', msg: 'request completed', url: '/v1/events', status: 200, events: 3 },
    { level: 20, reqId: 'r-2', msg: 'request completed', url: '/healthz', status: 200, events: undefined },
    { level: 20, reqId: 'r-3', msg: 'request completed', url: 'unknown', status: 404, events: undefined },
  ]);
});

test('auth: the hook sets the caller or answers 401; a route cannot take it without the plugin', async () => {
  const app = Fastify();
  await app.register(bearerAuth, { tokens: parseTokens('gs-a:token-a,gs-a:sandbox:token-s') });
  await app.register(errorReplies, { maxBodyBytes: 1024 });
  await app.register(
    routes((a) =>
      a.get('/who', { onRequest: authenticateHook(a) }, (req) => ({
        caller: req.caller,
        id: req.gameServerId,
      })),
    ),
  );
  const who = (authorization?: string) =>
    app.inject({ method: 'GET', url: '/who', headers: authorization === undefined ? {} : { authorization } });
  assert.deepEqual((await who('Bearer token-a')).json(), {
    caller: { gameServerId: 'gs-a', mode: 'live' },
    id: 'gs-a',
  });
  assert.deepEqual((await who('Bearer token-s')).json<{ caller: unknown }>().caller, {
    gameServerId: 'gs-a',
    mode: 'sandbox',
  });
  for (const bad of [undefined, 'Bearer nope', 'Basic token-a']) {
    const res = await who(bad);
    assert.deepEqual(
      [res.statusCode, res.json<{ error: string }>().error],
      [401, 'unauthorized'],
      String(bad),
    );
  }
  assert.throws(() => authenticateHook(Fastify()), { code: 'FST_ERR_DEC_UNDECLARED' });
});

test('graceful close: a reply sent while closing ends its connection; close waits for the drain', async () => {
  let drainAsked = false;
  let releaseDrain = (): void => undefined;
  const app = Fastify();
  await app.register(gracefulClose, {
    drain: () => {
      drainAsked = true;
      return new Promise<void>((resolve) => (releaseDrain = resolve));
    },
  });
  let inHandler = false;
  let releaseRequest = (): void => undefined;
  await app.register(
    routes((a) =>
      a.get('/slow', async () => {
        inHandler = true;
        await new Promise<void>((resolve) => (releaseRequest = resolve));
        return 'done';
      }),
    ),
  );
  // Registered after the plugin's: once this one has run, so has the plugin's.
  let preClosed = false;
  app.addHook('preClose', (done) => {
    preClosed = true;
    done();
  });
  const before = await app.inject({ method: 'GET', url: '/nothing' });
  assert.notEqual(before.headers.connection, 'close', 'not before close begins');

  const inFlight = app.inject({ method: 'GET', url: '/slow' });
  await waitUntil('the request to be in its handler', () => inHandler, 2000, 5);
  let closed = false;
  const closing = app.close().then(() => (closed = true));
  await waitUntil('close to begin', () => preClosed, 2000, 5);
  releaseRequest();
  const res = await inFlight;
  assert.deepEqual([res.statusCode, res.headers.connection], [200, 'close']);
  await waitUntil('the drain to be asked for', () => drainAsked, 2000, 5);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'close waits for the drain');
  releaseDrain();
  await closing;
  assert.equal(closed, true);
});

test('OpenAPI docs: the routes of the plugins registered after it are in the document, hidden ones not', async () => {
  const app = Fastify();
  await app.register(openApiDocs, { publicUrl: 'https://ingest.example.net' });
  await app.register(
    routes((a) => {
      a.get('/shown', { schema: { summary: 'shown' } }, () => 'ok');
      a.get('/hidden', { schema: { hide: true } }, () => 'ok');
    }),
  );
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
    paths: Record<string, unknown>;
    servers: { url: string }[];
  }>();
  assert.deepEqual(Object.keys(doc.paths), ['/shown']);
  assert.deepEqual(
    doc.servers.map((s) => s.url),
    ['https://ingest.example.net'],
  );
  assert.equal((await app.inject({ method: 'GET', url: '/docs/' })).statusCode, 200);
});
