// Every error the API can answer with: a stable code, an HTTP status and a message, in one place.
import { TradewatchError } from '@tradewatch/shared/errors';
import type { FieldError } from '@tradewatch/shared/events';

export const HTTP_ERRORS = {
  invalid_events: 400,
  malformed_json: 400,
  invalid_body: 400,
  unsupported_media_type: 415,
  unauthorized: 401,
  body_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  not_found: 404,
  internal: 500,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends TradewatchError {
  readonly status: number;
  readonly details: (FieldError & { index: number })[] | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(
    code: HttpErrorCode,
    message: string,
    extra: { details?: (FieldError & { index: number })[]; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: extra.cause, retriable: code === 'unavailable' || code === 'rate_limited' });
    this.status = HTTP_ERRORS[code];
    this.details = extra.details;
    this.retryAfterSec = extra.retryAfterSec;
  }
}
