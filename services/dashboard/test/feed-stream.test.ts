// One browser's SSE stream on an in-memory response: a replay past the bound ends the stream
// cleanly, streams keeping up share a burst and each still gets every entry once with its own
// cursor, and only a browser that does not read is dropped. No I/O.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { encodeAlert } from '@tradewatch/shared/alerts';
import { AlertFeed } from '../src/alert-feed.ts';
import { decodeCursor, type FeedCursor } from '../src/feed-cursor.ts';
import { openFeedStream } from '../src/feed-stream.ts';
import { makeAlert } from './support/desk-ports.ts';

/** What openFeedStream uses of a response; `drain()` is the browser reading everything sent. */
class FakeResponse extends EventEmitter {
  readonly pieces: (string | Buffer)[] = [];
  writableLength = 0;
  ended = false;
  writeHead(): this {
    return this;
  }
  write(piece: string | Buffer): boolean {
    assert.equal(this.ended, false, 'a write after end');
    this.pieces.push(piece);
    this.writableLength += Buffer.byteLength(piece);
    return true;
  }
  end(piece?: string): void {
    if (piece !== undefined) this.write(piece);
    this.ended = true;
  }
  drain(): void {
    this.writableLength = 0;
  }
  /** The alert events received so far: their ids (cursors) and alertIds. */
  alerts(): { id: string; alertId: string }[] {
    return this.pieces
      .join('')
      .split('\n\n')
      .filter((f) => f.startsWith('event: alert\n'))
      .map((f) => {
        const [, id, data] = f.split('\n') as [string, string, string];
        return {
          id: id.slice('id: '.length),
          alertId: (JSON.parse(data.slice(6)) as { alertId: string }).alertId,
        };
      });
  }
}

const open = (feed: AlertFeed, from: FeedCursor, maxBufferedBytes = 1 << 20): FakeResponse => {
  const res = new FakeResponse();
  openFeedStream(res as unknown as ServerResponse, feed, from, { maxBufferedBytes });
  return res;
};

const newFeed = () => new AlertFeed({ capacity: 1000, starts: { alerts: [0], labels: [0] }, liveFrom: [0] });

const commit = (feed: AlertFeed, from: number, to: number) => {
  for (let i = from; i < to; i++) {
    const a = makeAlert(i);
    feed.addAlert({
      topic: 'alerts',
      partition: 0,
      offset: i,
      key: a.userId,
      value: Buffer.from(encodeAlert(a)),
    });
  }
};

const endOfTick = () => new Promise((resolve) => setImmediate(resolve));

test('a replay larger than the bound ends the stream; resuming from its last id delivers the rest once', () => {
  const feed = newFeed();
  commit(feed, 0, 300);
  const got: string[] = [];
  let from: FeedCursor = { alerts: [0], labels: [0] };
  for (let round = 0; got.length < 300; round++) {
    assert.ok(round < 20, 'the replay makes progress');
    const res = open(feed, from, 20_000);
    const events = res.alerts();
    if (events.length < 300 - got.length) assert.equal(res.ended, true, 'a cut replay ends');
    got.push(...events.map((e) => e.alertId));
    from = decodeCursor(events.at(-1)!.id);
  }
  assert.deepEqual(
    got,
    Array.from({ length: 300 }, (_, i) => makeAlert(i).alertId),
  );
});

test('streams that keep up share a burst; a stream behind gets its own events, each with its own cursor', async () => {
  const feed = newFeed();
  commit(feed, 0, 10);
  const a = open(feed, { alerts: [10], labels: [0] });
  const b = open(feed, { alerts: [10], labels: [0] });
  const behind = open(feed, { alerts: [4], labels: [0] });
  commit(feed, 10, 40);
  await endOfTick();
  const ids = (from: number) => Array.from({ length: 40 - from }, (_, k) => makeAlert(from + k).alertId);
  assert.deepEqual(
    a.alerts().map((e) => e.alertId),
    ids(10),
  );
  assert.deepEqual(a.alerts(), b.alerts());
  assert.equal(a.pieces.at(-1), b.pieces.at(-1), 'one buffer for both');
  assert.deepEqual(
    behind.alerts().map((e) => e.alertId),
    ids(4),
  );
  for (const res of [a, b, behind]) {
    const cursors = res.alerts().map((e) => decodeCursor(e.id).alerts[0]);
    assert.deepEqual(
      cursors,
      Array.from({ length: cursors.length }, (_, k) => 40 - cursors.length + k + 1),
    );
  }
  // The next burst: the two at the head still share, and continue exactly.
  commit(feed, 40, 45);
  await endOfTick();
  assert.deepEqual(
    b.alerts().map((e) => e.alertId),
    [...ids(10), ...Array.from({ length: 5 }, (_, k) => makeAlert(40 + k).alertId)],
  );
  assert.deepEqual(a.alerts(), b.alerts());
});

test('a burst larger than the bound keeps a browser that reads; one that does not read is dropped', async () => {
  const feed = newFeed();
  const reading = open(feed, { alerts: [0], labels: [0] }, 5_000);
  const stuck = open(feed, { alerts: [0], labels: [0] }, 5_000);
  commit(feed, 0, 50); // far more than 5,000 bytes in one burst
  await endOfTick();
  assert.equal(reading.ended, false);
  assert.equal(stuck.ended, false);
  reading.drain();
  commit(feed, 50, 60);
  await endOfTick();
  assert.equal(reading.ended, false);
  assert.equal(reading.alerts().length, 60);
  assert.equal(stuck.ended, true, 'still holding the last burst when the next began');
  assert.equal(stuck.alerts().length, 50);
  assert.equal(feed.subscribers, 1);
});
