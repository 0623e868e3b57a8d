// The error registry (src/errors.ts): every code has a status and a default message, retriable is
// decided by the status, anything thrown maps to a code, and each message is written once — in
// the registry, not again in the rest of the gateway's source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TradewatchError } from '@tradewatch/shared/errors';
import {
  HTTP_ERRORS,
  HttpError,
  bodyTooLarge,
  compressedBody,
  eventIdConflict,
  eventNotFound,
  invalidEvents,
  malformedJson,
  misspeltBatch,
  replyBodyOf,
  toHttpError,
  type HttpErrorCode,
} from '../src/errors.ts';

const CODES = Object.keys(HTTP_ERRORS) as HttpErrorCode[];

test('every code has an HTTP error status and a default message, which an error without one takes', () => {
  assert.ok(CODES.length > 0);
  for (const code of CODES) {
    const { status, message } = HTTP_ERRORS[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    assert.ok(message.length > 0, code);
    const e = new HttpError(code);
    assert.deepEqual([e.code, e.status, e.message], [code, status, message]);
    assert.deepEqual(replyBodyOf(e), { error: code, message });
  }
});

test('retriable is 429 and 503, and only those carry Retry-After (1 s unless said)', () => {
  for (const code of CODES) {
    const e = new HttpError(code);
    const retriable = e.status === 429 || e.status === 503;
    assert.equal(e.retriable, retriable, code);
    assert.equal(e.retryAfterSec, retriable ? 1 : undefined, code);
  }
  assert.equal(new HttpError('rate_limited', undefined, { retryAfterSec: 7 }).retryAfterSec, 7);
});

test('the errors with a message of their own keep their code, its status, and what they name', () => {
  const details = [{ index: 1, path: '/amount', message: 'Expected a number' }];
  const made: [HttpError, HttpErrorCode, RegExp][] = [
    [invalidEvents(1, 4, details), 'invalid_events', /^1 of 4 event\(s\) invalid/],
    [malformedJson('Unexpected token'), 'malformed_json', /not valid JSON: Unexpected token$/],
    [misspeltBatch(['event']), 'invalid_body', /^unexpected field "event" \(an array\)/],
    [eventNotFound('gs-1:x'), 'not_found', /no accepted event gs-1:x of this game server/],
    [eventIdConflict([0, 3]), 'event_id_conflict', /^2 event\(s\) reuse an eventId/],
    [bodyTooLarge(2048), 'body_too_large', /^the body exceeds 2048 bytes$/],
    [compressedBody('br'), 'unsupported_media_type', /\(Content-Encoding: br\)/],
  ];
  for (const [e, code, message] of made) {
    assert.equal(e.code, code);
    assert.equal(e.status, HTTP_ERRORS[code].status, code);
    assert.match(e.message, message);
  }
  assert.deepEqual(replyBodyOf(invalidEvents(1, 4, details)).details, details);
  assert.deepEqual(replyBodyOf(eventIdConflict([0, 3])).indexes, [0, 3]);
});

test('what a client sends is bounded in the messages that repeat it', () => {
  const long = 'x'.repeat(500);
  assert.ok(compressedBody(long).message.includes(`Content-Encoding: ${'x'.repeat(40)})`));
  const fields = ['a', 'b', 'c', 'd', 'e', 'f', long];
  assert.equal(
    misspeltBatch(fields).message,
    'unexpected field "a", "b", "c", "d", "e" (an array): a batch is {"events": [...]}',
  );
  assert.ok(misspeltBatch([long]).message.includes(`"${'x'.repeat(40)}"`));
});

test('anything thrown while handling a request maps to a code', () => {
  const fastify = (code: string, message: string) => Object.assign(new Error(message), { code });
  const own = new HttpError('in_progress');
  assert.equal(toHttpError(own, 10), own);
  const tooLarge = toHttpError(fastify('FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large'), 1024);
  assert.deepEqual([tooLarge.code, tooLarge.message], ['body_too_large', 'the body exceeds 1024 bytes']);
  const media = toHttpError(fastify('FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type'), 10);
  assert.deepEqual(
    [media.code, media.message],
    ['unsupported_media_type', HTTP_ERRORS.unsupported_media_type.message],
  );
  const length = toHttpError(fastify('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'size mismatch'), 10);
  assert.deepEqual([length.code, length.message], ['invalid_body', 'size mismatch']);
  const aborted = toHttpError(Object.assign(new Error('aborted'), { statusCode: 400 }), 10);
  assert.deepEqual([aborted.code, aborted.message], ['invalid_body', 'aborted']);

  const down = new TradewatchError('KAFKA_ERROR', 'broker down', { retriable: true });
  const unavailable = toHttpError(down, 10);
  assert.deepEqual([unavailable.code, unavailable.message], ['unavailable', HTTP_ERRORS.unavailable.message]);
  assert.equal(unavailable.cause, down, 'the cause is kept for the log, not shown to the client');
  const bug = new TypeError('x is undefined');
  const internal = toHttpError(bug, 10);
  assert.deepEqual([internal.code, internal.message, internal.cause], ['internal', 'internal error', bug]);
  assert.equal(toHttpError(Object.assign(new Error('boom'), { statusCode: 502 }), 10).code, 'internal');
});

/** Every .ts file of the gateway's src/, but the registry. */
const SRC = join(import.meta.dirname, '../src');
const sources = (dir = SRC): { file: string; text: string }[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sources(path);
    if (!d.name.endsWith('.ts') || path === join(SRC, 'errors.ts')) return [];
    return [{ file: path.slice(SRC.length + 1), text: readFileSync(path, 'utf8') }];
  });

test('each message of the registry is written there only, not again elsewhere in src/', () => {
  // The fixed parts of the messages that name something, cut at a marker put in their place.
  const MARK = '§';
  const named = [
    invalidEvents(1, 2, []),
    malformedJson(MARK),
    misspeltBatch([MARK]),
    eventNotFound(MARK),
    eventIdConflict([]),
    bodyTooLarge(1),
    compressedBody(MARK),
  ].flatMap((e) => e.message.split(/"§"|§|\d+/));
  const texts = [...CODES.map((c) => HTTP_ERRORS[c].message), ...named].filter((t) => t.trim().length >= 20);
  assert.ok(texts.length >= CODES.length);
  const problems = sources().flatMap(({ file, text }) =>
    texts.filter((t) => text.includes(t)).map((t) => `${file} repeats "${t}"`),
  );
  assert.deepEqual(problems, []);
});
