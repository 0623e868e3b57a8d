// The position of a browser in the alert feed: for each partition of the alerts topic and of the
// labels topic, the offset of the next record it has not seen. It travels as the SSE event id,
// so EventSource's own Last-Event-ID resumes the stream exactly: `<alerts>~<labels>`, each a
// comma-separated list of offsets by partition, e.g. `120,98,4~7,0,3`. Pure.
import { DeskError } from './errors.ts';

export interface FeedCursor {
  alerts: number[];
  labels: number[];
}

export type FeedStream = keyof FeedCursor;

const MAX_LENGTH = 4096;
const OFFSETS = /^\d{1,16}(,\d{1,16})*$/;

export const encodeCursor = (c: FeedCursor): string => `${c.alerts.join(',')}~${c.labels.join(',')}`;

/** Parses a cursor; throws `invalid_cursor` for anything this desk did not issue. */
export const decodeCursor = (text: string): FeedCursor => {
  const parts = text.length <= MAX_LENGTH ? text.split('~') : [];
  if (parts.length !== 2 || !parts.every((p) => OFFSETS.test(p))) {
    throw new DeskError('invalid_cursor', 'a cursor is "<offsets>~<offsets>" as sent in the stream\'s ids');
  }
  const [alerts, labels] = parts.map((p) => p.split(',').map(Number)) as [number[], number[]];
  if (![...alerts, ...labels].every(Number.isSafeInteger)) throw new DeskError('invalid_cursor');
  return { alerts, labels };
};

export const copyCursor = (c: FeedCursor): FeedCursor => ({ alerts: [...c.alerts], labels: [...c.labels] });
