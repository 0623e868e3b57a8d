// Kafka errors: every error leaves the adapter as a TradewatchError, classified here once —
// KAFKA_FENCED (another producer owns the transactional id, or the coordinator aborted a
// transaction that outlived its timeout), KAFKA_PRODUCER_STATE (the broker lost track of this
// producer's sequence), KAFKA_GROUP_FENCED (this member's generation is gone), retriable
// KAFKA_ERROR, or fatal. The tables of broker error names it reads, and the walk over the
// library's nested errors, live here too.
import { TradewatchError } from '../errors.ts';

interface PkErrorLike {
  name?: string;
  message?: string;
  apiId?: string;
  canRetry?: boolean;
  errors?: unknown[];
  cause?: unknown;
  response?: unknown;
}

export const walkErrors = (err: unknown, visit: (e: PkErrorLike) => void, depth = 0): void => {
  if (err === null || typeof err !== 'object' || depth > 8) return;
  const e = err as PkErrorLike;
  visit(e);
  for (const sub of e.errors ?? []) walkErrors(sub, visit, depth + 1);
  if (e.cause !== undefined) walkErrors(e.cause, visit, depth + 1);
};

export const apiIdsOf = (err: unknown): Set<string> => {
  const ids = new Set<string>();
  walkErrors(err, (e) => {
    if (typeof e.apiId === 'string') ids.add(e.apiId);
  });
  return ids;
};

const PRODUCER_FENCED = [
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_PRODUCER_ID_MAPPING',
];
const GROUP_FENCED = [
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
  'REBALANCE_IN_PROGRESS',
];
/** The broker lost track of this producer's sequence (brokers down, a leader elected uncleanly). */
const PRODUCER_STATE = ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_TXN_STATE'];
const RETRIABLE_NAMES = new Set(['NetworkError', 'TimeoutError']);

/** Maps any client error to a TradewatchError; the error chain's own `canRetry` decides retries. */
export const classifyKafkaError = (err: unknown, what?: string): TradewatchError => {
  if (err instanceof TradewatchError) return err;
  const ids = apiIdsOf(err);
  const message = `${what === undefined ? '' : `${what}: `}${(err as Error | undefined)?.message ?? String(err)}${
    ids.size > 0 ? ` (${[...ids].join(', ')})` : ''
  }`;
  if (PRODUCER_FENCED.some((id) => ids.has(id))) {
    return new TradewatchError('KAFKA_FENCED', `producer fenced: ${message}`, { cause: err });
  }
  if (PRODUCER_STATE.some((id) => ids.has(id))) {
    // The producer must start again (a new epoch); the operation may then be tried again.
    return new TradewatchError('KAFKA_PRODUCER_STATE', `producer state lost: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
  if (GROUP_FENCED.some((id) => ids.has(id))) {
    return new TradewatchError('KAFKA_GROUP_FENCED', `consumer group generation fenced: ${message}`, {
      cause: err,
    });
  }
  let retriable = true;
  let network = false;
  walkErrors(err, (e) => {
    if (e.canRetry === false) retriable = false;
    if (e.name !== undefined && RETRIABLE_NAMES.has(e.name)) network = true;
  });
  // Passing states: a topic just created, a transaction the broker asks to abort and retry.
  if (ids.has('UNKNOWN_TOPIC_OR_PARTITION') || ids.has('TRANSACTION_ABORTABLE')) retriable = true;
  return new TradewatchError('KAFKA_ERROR', message, { retriable: retriable || network, cause: err });
};

export const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw classifyKafkaError(err, what);
  }
};
