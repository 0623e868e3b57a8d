// @tradewatch/client: the typed client of the tradewatch ingest API.
export { TradewatchClient, type TradewatchClientOptions } from './client.ts';
export { TradewatchClientError, type ClientErrorCode } from './errors.ts';
export { DEFAULT_RETRY, retryDelay, type RetryPolicy } from './retry.ts';
export type {
  ArchivedStage,
  ClientStats,
  EventOutcome,
  EventStatus,
  FieldProblem,
  GameEvent,
  LoginEvent,
  ProcessedStage,
  Timestamp,
  TradeEvent,
} from './types.ts';
