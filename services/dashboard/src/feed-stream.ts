// One browser's Server-Sent Events stream: it replays what the browser has not seen from the
// feed's memory, then sends each new entry as it is read. Every event's id is the browser's
// cursor after it, so EventSource's Last-Event-ID resumes exactly where the last complete event
// left off. A browser that cannot keep up (its socket buffer past a bound) is disconnected; it
// reconnects and resumes, which is cheaper and safer than buffering for it without end.
import type { ServerResponse } from 'node:http';
import type { AlertFeed } from './alert-feed.ts';
import { copyCursor, encodeCursor, type FeedCursor } from './feed-cursor.ts';
import type { FeedEntry } from './feed-log.ts';

export interface FeedStreamOptions {
  heartbeatMs?: number;
  /** Bytes buffered for a slow browser before it is disconnected. */
  maxBufferedBytes?: number;
  /** The browser's reconnection delay, ms (the SSE `retry` field). */
  retryMs?: number;
}

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
  const send = (entry: FeedEntry, data: string): void => {
    const seen = cursor[entry.stream];
    if (entry.offset < (seen[entry.partition] ?? Infinity)) return;
    seen[entry.partition] = entry.offset + 1;
    const event = entry.stream === 'alerts' ? 'alert' : 'label';
    res.write(`event: ${event}\nid: ${encodeCursor(cursor)}\ndata: ${data}\n\n`);
    if (res.writableLength > maxBuffered) close();
  };
  // Replayed alerts carry their labels as known now, live ones those known when they were read.
  for (const entry of feed.log.after(cursor)) {
    send(entry, entry.stream === 'alerts' ? feed.deskAlertJson(entry) : entry.json);
    if (closed) return;
  }
  unsubscribe = feed.subscribe(send);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), opts.heartbeatMs ?? 15000);
  heartbeat.unref();
  function close(): void {
    if (closed) return;
    closed = true;
    unsubscribe();
    if (heartbeat !== undefined) clearInterval(heartbeat);
    res.end();
  }
  res.on('close', close);
};
