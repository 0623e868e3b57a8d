// Every error the desk's API answers with, in one registry: a stable code, its HTTP status and
// its default message. Everything thrown while handling a request is mapped to one of these here.
import { TradewatchError, isRetriable } from '@tradewatch/shared/errors';
import { RuleInvalidError } from '@tradewatch/shared/rules';

export const DESK_ERRORS = {
  bad_request: { status: 400, message: 'the request is invalid' },
  invalid_cursor: { status: 400, message: 'the stream cursor is not one this desk issued' },
  unauthorized: { status: 401, message: 'sign in, or send Authorization: Bearer <token>' },
  invalid_credentials: { status: 401, message: 'unknown name or token' },
  csrf_failed: {
    status: 403,
    message: 'a request made with the session cookie must carry the x-csrf-token from GET /api/session',
  },
  forbidden: { status: 403, message: 'your role does not allow this' },
  not_found: { status: 404, message: 'not found' },
  conflict: { status: 409, message: 'someone else changed this meanwhile; retry' },
  invalid_rule: { status: 400, message: 'the rule definition is invalid' },
  unsupported_media_type: { status: 415, message: 'send the body as Content-Type: application/json' },
  internal: { status: 500, message: 'internal error' },
  unavailable: { status: 503, message: 'a dependency is unavailable; retry shortly' },
} as const;

export type DeskErrorCode = keyof typeof DESK_ERRORS;

export class DeskError extends TradewatchError {
  readonly status: number;

  constructor(code: DeskErrorCode, message?: string, cause?: unknown) {
    const entry = DESK_ERRORS[code];
    super(code, message ?? entry.message, { cause, retriable: entry.status === 503 });
    this.name = 'DeskError';
    this.status = entry.status;
  }
}

const FASTIFY_CODES: Readonly<Record<string, DeskErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_CTP_BODY_TOO_LARGE: 'bad_request',
  FST_ERR_VALIDATION: 'bad_request',
};

/** Any error thrown while handling a request, as a DeskError. */
export const toDeskError = (err: unknown): DeskError => {
  if (err instanceof DeskError) return err;
  if (err instanceof RuleInvalidError) return new DeskError('invalid_rule', err.message, err);
  const code = (err as { code?: unknown } | null)?.code;
  const mapped = typeof code === 'string' ? FASTIFY_CODES[code] : undefined;
  if (mapped !== undefined) return new DeskError(mapped, (err as Error).message, err);
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new DeskError('bad_request', (err as Error).message, err);
  }
  if (isRetriable(err)) return new DeskError('unavailable', undefined, err);
  return new DeskError('internal', undefined, err);
};
