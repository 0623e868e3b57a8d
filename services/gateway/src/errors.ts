// Every error the API answers with, in one registry: a stable code, its HTTP status, and
// whether the client should retry (then the reply carries Retry-After). Everything thrown while
// handling a request is mapped to one of these codes here, and only here.
import { TradewatchError, isRetriable } from '@tradewatch/shared/errors';
import type { FieldError } from '@tradewatch/shared/events';

export const HTTP_ERRORS = {
  invalid_events: 400,
  malformed_json: 400,
  invalid_body: 400,
  invalid_event_id: 400,
  unauthorized: 401,
  not_found: 404,
  event_id_conflict: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  in_progress: 503,
} as const;

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

  constructor(
    code: HttpErrorCode,
    message: string,
    extra: { details?: EventFieldError[]; indexes?: number[]; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    const status = HTTP_ERRORS[code];
    super(code, message, { cause: extra.cause, retriable: status === 429 || status === 503 });
    this.name = 'HttpError';
    this.status = status;
    this.details = extra.details;
    this.indexes = extra.indexes;
    this.retryAfterSec = extra.retryAfterSec ?? (this.retriable ? 1 : undefined);
  }
}

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
  if (mapped === 'body_too_large') return new HttpError(mapped, `the body exceeds ${maxBodyBytes} bytes`);
  if (mapped === 'unsupported_media_type') {
    return new HttpError(mapped, 'send the body as Content-Type: application/json (UTF-8)');
  }
  if (mapped !== undefined) return new HttpError(mapped, (err as Error).message);
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // A client-side fault fastify detected (aborted upload, bad framing).
    return new HttpError('invalid_body', (err as Error).message);
  }
  if (isRetriable(err))
    return new HttpError('unavailable', 'a dependency is unavailable; retry shortly', { cause: err });
  return new HttpError('internal', 'internal error', { cause: err });
};
