// The dead-letter envelope every stage writes to `tradewatch.dead-letters`: the record's original
// key and value, and headers that say why (tw-reason, a stable code; tw-detail, the problem,
// cut to DEAD_LETTER_DETAIL_MAX characters), where it was read (tw-source:
// topic/partition/offset) and who gave up on it (tw-stage). Pure: no I/O.
import type { OutgoingRecord } from './kafka-port.ts';

export const DEAD_LETTER_REASONS = [
  'not_json',
  'invalid_event',
  'key_mismatch',
  'invalid_alert',
  'invalid_label',
  'invalid_rule',
  'clickhouse_rejected',
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export type DeadLetterStage = 'processor' | 'sink';

/** Longest tw-detail, in characters: a detail is a message for people, not a payload. */
export const DEAD_LETTER_DETAIL_MAX = 1000;

export const DEAD_LETTER_HEADERS = {
  reason: 'tw-reason',
  detail: 'tw-detail',
  source: 'tw-source',
  stage: 'tw-stage',
} as const;

export interface DeadLetter {
  source: { topic: string; partition: number; offset: number };
  key: Buffer | string | null;
  value: Buffer | string | null;
  reason: DeadLetterReason;
  detail: string;
  stage: DeadLetterStage;
}

/** The dead-letter record of `d`, for `topic`. */
export const deadLetterRecord = (topic: string, d: DeadLetter): OutgoingRecord => ({
  topic,
  key: d.key,
  value: d.value,
  headers: {
    [DEAD_LETTER_HEADERS.reason]: d.reason,
    [DEAD_LETTER_HEADERS.detail]: d.detail.slice(0, DEAD_LETTER_DETAIL_MAX),
    [DEAD_LETTER_HEADERS.source]: `${d.source.topic}/${d.source.partition}/${d.source.offset}`,
    [DEAD_LETTER_HEADERS.stage]: d.stage,
  },
});
