// The client's one error type: the gateway's error code (or the client's own), the HTTP status
// when there was a reply, and whether retrying the same request can help — decided here, once.

/** The gateway's codes, and the client's own (`network`, `timeout`, `closed`, ...). */
export type ClientErrorCode =
  | 'unauthorized'
  | 'rate_limited'
  | 'unavailable'
  | 'in_progress'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'malformed_json'
  | 'invalid_body'
  | 'invalid_events'
  | 'invalid_event_id'
  | 'event_id_conflict'
  | 'not_found'
  | 'internal'
  | 'network'
  | 'timeout'
  | 'retries_exhausted'
  | 'closed'
  | 'queue_full'
  | 'unexpected_reply'
  | (string & {});

export class TradewatchClientError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status of the gateway's reply; undefined when there was none. */
  readonly status: number | undefined;
  /** Whether sending the same request again may succeed. */
  readonly retriable: boolean;
  /** The gateway's Retry-After, ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    opts: { status?: number; retriable?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TradewatchClientError';
    this.code = code;
    this.status = opts.status;
    this.retriable = opts.retriable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Statuses worth the same request again: rate limits, and the gateway (or a proxy) unavailable. */
export const RETRIABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** Retry-After in seconds or as an HTTP date, as ms from `now`; undefined if absent or unreadable. */
export const parseRetryAfter = (value: string | null, now: number): number | undefined => {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
};
