// The one error type of tradewatch: a stable code, and whether retrying can help.
// Retriable-or-not is decided once, where an error is classified, and read everywhere else.

export interface TradewatchErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

export class TradewatchError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: TradewatchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TradewatchError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

export const isRetriable = (err: unknown): boolean =>
  err instanceof TradewatchError
    ? err.retriable
    : typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
