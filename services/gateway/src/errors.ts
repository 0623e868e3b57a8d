// Every error the API answers with, in one registry: a stable code, its HTTP status, its default
// message, and whether the client should retry (then the reply carries Retry-After). The errors
// whose message names what was wrong (a limit, an encoding, an eventId) are made by the functions
// below it, so that each message is written once: the code that throws it and the OpenAPI
// examples (openapi.ts) both call them. Everything thrown while handling a request is mapped to
// one of these codes here, and only here.
import { TradewatchError, isRetriable } from '@tradewatch/shared/errors';
import type { FieldError } from '@tradewatch/shared/events';

export const HTTP_ERRORS = {
  invalid_events: { status: 400, message: 'some events are invalid; nothing was published' },
  malformed_json: { status: 400, message: 'the body is not valid JSON' },
  invalid_body: { status: 400, message: 'the body must be one event object or {"events": [...]}' },
  invalid_event_id: { status: 400, message: 'an eventId is 1-128 characters of A-Z a-z 0-9 . _ : -' },
  unauthorized: { status: 401, message: 'missing or unknown bearer token' },
  not_found: { status: 404, message: 'not found' },
  event_id_conflict: {
    status: 409,
    message: 'an eventId already accepted is reused with different content; nothing was published',
  },
  body_too_large: { status: 413, message: 'the body is too large' },
  unsupported_media_type: {
    status: 415,
    message: 'send the body as Content-Type: application/json (UTF-8)',
  },
  rate_limited: { status: 429, message: 'rate limit of this game server exceeded' },
  internal: { status: 500, message: 'internal error' },
  unavailable: { status: 503, message: 'a dependency is unavailable; retry shortly' },
  in_progress: {
    status: 503,
    message: 'some of these events are being published by another request; retry',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export interface EventFieldError extends FieldError {
  index: number;
}

export class HttpError extends TradewatchError {
  readonly status: number;
  readonly details: EventFieldError[] | undefined;
  /** For event_id_conflict: the indexes of the events in the request that reuse an eventId. */
  readonly indexes: number[] | undefined;
  readonly retryAfterSec: number | undefined;

  /** Without a message, the code's default message. */
  constructor(
    code: HttpErrorCode,
    message: string = HTTP_ERRORS[code].message,
    extra: { details?: EventFieldError[]; indexes?: number[]; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    const status = HTTP_ERRORS[code].status;
    super(code, message, { cause: extra.cause, retriable: status === 429 || status === 503 });
    this.name = 'HttpError';
    this.status = status;
    this.details = extra.details;
    this.indexes = extra.indexes;
    this.retryAfterSec = extra.retryAfterSec ?? (this.retriable ? 1 : undefined);
  }
}

/** The body of the reply to an error: `{"error", "message"}`, with details or indexes when known. */
export const replyBodyOf = (e: HttpError): Record<string, unknown> => {
  const body: Record<string, unknown> = { error: e.code, message: e.message };
  if (e.details) body.details = e.details;
  if (e.indexes) body.indexes = e.indexes;
  return body;
};

// The errors whose message names what was wrong.

export const invalidEvents = (invalid: number, total: number, details: EventFieldError[]): HttpError =>
  new HttpError('invalid_events', `${invalid} of ${total} event(s) invalid; nothing was published`, {
    details,
  });

/** `reason`: what JSON.parse said. */
export const malformedJson = (reason: string): HttpError =>
  new HttpError('malformed_json', `the body is not valid JSON: ${reason}`);

/** An object without a type whose fields include arrays: a batch with its wrapper misspelt. */
export const misspeltBatch = (arrayFields: readonly string[]): HttpError => {
  const names = arrayFields.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40)));
  return new HttpError(
    'invalid_body',
    `unexpected field ${names.join(', ')} (an array): a batch is {"events": [...]}`,
  );
};

export const eventNotFound = (eventId: string): HttpError =>
  new HttpError('not_found', `no accepted event ${eventId} of this game server in the idempotency window`);

export const eventIdConflict = (indexes: number[]): HttpError =>
  new HttpError(
    'event_id_conflict',
    `${indexes.length} event(s) reuse an eventId already accepted (or earlier in this request) ` +
      'with different content; nothing was published',
    { indexes },
  );

export const bodyTooLarge = (maxBytes: number): HttpError =>
  new HttpError('body_too_large', `the body exceeds ${maxBytes} bytes`);

/** `encoding`: the request's Content-Encoding (other than identity). */
export const compressedBody = (encoding: string): HttpError =>
  new HttpError(
    'unsupported_media_type',
    `compressed bodies are not accepted (Content-Encoding: ${encoding.slice(0, 40)}); send identity-encoded JSON`,
  );

/** Fastify's own errors (body parsing, limits) mapped to the API's codes. */
const FASTIFY_CODES: Readonly<Record<string, HttpErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
};

/**
 * Any error thrown while handling a request, as an HttpError. A retriable dependency failure
 * (Kafka, Redis, a publish past its deadline) becomes 503; anything unexpected becomes 500.
 */
export const toHttpError = (err: unknown, maxBodyBytes: number): HttpError => {
  if (err instanceof HttpError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const mapped = typeof code === 'string' ? FASTIFY_CODES[code] : undefined;
  if (mapped === 'body_too_large') return bodyTooLarge(maxBodyBytes);
  if (mapped === 'unsupported_media_type') return new HttpError(mapped);
  if (mapped !== undefined) return new HttpError(mapped, (err as Error).message);
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // A client-side fault fastify detected (aborted upload, bad framing).
    return new HttpError('invalid_body', (err as Error).message);
  }
  if (isRetriable(err)) return new HttpError('unavailable', undefined, { cause: err });
  return new HttpError('internal', undefined, { cause: err });
};
