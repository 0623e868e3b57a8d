// One browser's Server-Sent Events stream: it replays what the browser has not seen from the
// feed's memory, then sends each new entry as it is read. Every event's id is the browser's
// cursor after it, so EventSource's Last-Event-ID resumes exactly where the last complete event
// left off. A browser that cannot keep up (its socket buffer past a bound) is disconnected; it
// reconnects and resumes, which is cheaper and safer than buffering for it without end.
//
// Live entries arrive in bursts (each batch the feed reads is handed over synchronously); a
// stream writes a burst as one piece at the end of the tick. Streams that begin a burst at the
// same position — every browser that is keeping up — share its bytes (bench/dashboard-bench.ts:
// per-event writes and per-stream copies were most of the desk's CPU and memory with 50 browsers).
import type { ServerResponse } from 'node:http';
import type { AlertFeed } from './alert-feed.ts';
import { copyCursor, encodeCursor, type FeedCursor } from './feed-cursor.ts';
import type { FeedEntry } from './feed-log.ts';

export interface FeedStreamOptions {
  heartbeatMs?: number;
  /**
   * A browser with more than this many bytes still unsent when a burst begins is slow and is
   * disconnected (a burst itself may take it past the bound: no socket drains within a burst).
   */
  maxBufferedBytes?: number;
  /** The browser's reconnection delay, ms (the SSE `retry` field). */
  retryMs?: number;
}

/** Replayed events are written in pieces of about this many characters. */
const REPLAY_CHUNK_CHARS = 256 * 1024;

/**
 * The events of one burst for every stream that began it at the same cursor and the same entry:
 * those streams see the same entries in the same order from the same position, so their events
 * are the same bytes, built and encoded once.
 */
interface Burst {
  readonly firstEntry: FeedEntry;
  lastEntry: FeedEntry | undefined;
  readonly frames: string[];
  bytes: Buffer | undefined;
}

/** Per feed, the bursts begun in the current tick, by cursor; forgotten at the end of the tick. */
const openBursts = new WeakMap<AlertFeed, Map<string, Burst>>();

const burstFor = (feed: AlertFeed, cursor: FeedCursor, entry: FeedEntry): Burst => {
  let bursts = openBursts.get(feed);
  if (bursts === undefined) {
    bursts = new Map();
    openBursts.set(feed, bursts);
    process.nextTick(() => openBursts.delete(feed));
  }
  const key = encodeCursor(cursor);
  const shared = bursts.get(key);
  if (shared !== undefined && shared.firstEntry === entry) return shared;
  const burst: Burst = { firstEntry: entry, lastEntry: undefined, frames: [], bytes: undefined };
  if (shared === undefined) bursts.set(key, burst);
  return burst;
};

export const openFeedStream = (
  res: ServerResponse,
  feed: AlertFeed,
  from: FeedCursor,
  opts: FeedStreamOptions = {},
): void => {
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${opts.retryMs ?? 1000}\n\n`);
  if (!feed.log.covers(from)) {
    res.end(
      `event: reset\ndata: ${JSON.stringify({
        message: 'the desk no longer holds everything after this position; reload the alerts',
      })}\n\n`,
    );
    return;
  }
  const cursor = copyCursor(from);
  let closed = false;
  let unsubscribe = (): void => undefined;
  // Set up before the replay, which may close the stream (close() clears it).
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), opts.heartbeatMs ?? 15000);
  heartbeat.unref();
  /** The event of an entry this browser has not seen, advancing its cursor; undefined otherwise. */
  const frame = (entry: FeedEntry, data: string): string | undefined => {
    const seen = cursor[entry.stream];
    if (entry.offset < (seen[entry.partition] ?? Infinity)) return undefined;
    seen[entry.partition] = entry.offset + 1;
    const event = entry.stream === 'alerts' ? 'alert' : 'label';
    return `event: ${event}\nid: ${encodeCursor(cursor)}\ndata: ${data}\n\n`;
  };
  // Replayed alerts carry their labels as known now, live ones those known when they were read;
  // they go out in pieces of REPLAY_CHUNK_CHARS, not one write per event.
  let replay = '';
  for (const entry of feed.log.after(cursor)) {
    replay += frame(entry, entry.stream === 'alerts' ? feed.deskAlertJson(entry) : entry.json) ?? '';
    if (replay.length < REPLAY_CHUNK_CHARS) continue;
    res.write(replay);
    replay = '';
    if (res.writableLength > maxBuffered) {
      close();
      return;
    }
  }
  if (replay !== '') res.write(replay);
  // The bound is checked when a burst begins: a check after each write would drop every browser
  // whenever one batch alone is larger than the bound.
  let burst: Burst | undefined;
  const flush = () => {
    const b = burst!;
    burst = undefined;
    if (closed || b.frames.length === 0) return;
    b.bytes ??= Buffer.from(b.frames.join(''), 'utf8');
    res.write(b.bytes);
  };
  const send = (entry: FeedEntry, data: string): void => {
    if (burst === undefined) {
      if (res.writableLength > maxBuffered) return close();
      burst = burstFor(feed, cursor, entry);
      process.nextTick(flush);
    }
    if (burst.lastEntry === entry) {
      // Another stream of this burst built the event: only the cursor moves.
      const seen = cursor[entry.stream];
      if (entry.offset >= (seen[entry.partition] ?? Infinity)) seen[entry.partition] = entry.offset + 1;
      return;
    }
    burst.lastEntry = entry;
    const f = frame(entry, data);
    if (f !== undefined) burst.frames.push(f);
  };
  unsubscribe = feed.subscribe(send);
  function close(): void {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(heartbeat);
    res.end();
  }
  res.on('close', close);
};
