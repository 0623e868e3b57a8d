// The live side of the desk: it tails the alerts and labels topics (committed records only),
// keeps what it read in a FeedLog for browsers that reconnect, every label in a LabelIndex, and
// hands each new entry to the open streams. Alerts are read from a bounded distance behind the
// end of each partition (the archive has the rest); labels from the beginning, since the desk
// shows every alert with all its labels.
import type { KafkaAdmin, KafkaClient } from '@tradewatch/shared/kafka-port';
import { tailTopics, type TailRecord, type TopicTail } from '@tradewatch/shared/kafka-tail';
import { decodeAlert, type Alert } from '@tradewatch/shared/alerts';
import { decodeLabel, type AlertLabel } from '@tradewatch/shared/labels';
import type { Logger } from '@tradewatch/shared/logger';
import { TradewatchError } from '@tradewatch/shared/errors';
import { FeedLog, type FeedEntry } from './feed-log.ts';
import { LabelIndex } from './label-index.ts';
import type { FeedCursor } from './feed-cursor.ts';

/** Called with each new entry and the data the stream sends for it. */
export type FeedListener = (entry: FeedEntry, data: string) => void;

/**
 * The feed's state: what was read, the labels, the open streams. Records come in through
 * `addAlert` / `addLabel` (from the Kafka tail in production, directly in tests). Pure: no I/O.
 */
export class AlertFeed {
  readonly labels = new LabelIndex();
  readonly log: FeedLog;
  private readonly listeners = new Set<FeedListener>();
  /** Per alerts partition: the end when the desk started; alerts past it count as live. */
  private readonly liveFrom: readonly number[];
  /** Per labels partition: labels before this offset go to the index only (read at start-up). */
  private readonly labelsLogFrom: readonly number[];
  private readonly onReject: (what: string, r: TailRecord, err: unknown) => void;
  /** Alerts read since start-up that were committed after it. */
  alertsRead = 0;
  rejected = 0;

  constructor(o: {
    capacity: number;
    starts: FeedCursor;
    liveFrom: readonly number[];
    onReject?: (what: string, r: TailRecord, err: unknown) => void;
  }) {
    this.log = new FeedLog(o.capacity, o.starts);
    this.liveFrom = o.liveFrom;
    this.labelsLogFrom = o.starts.labels;
    this.onReject = o.onReject ?? (() => undefined);
  }

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private emit(entry: FeedEntry): void {
    this.log.append(entry);
    if (this.listeners.size === 0) return;
    const data = entry.stream === 'alerts' ? this.deskAlertJson(entry) : entry.json;
    for (const l of this.listeners) l(entry, data);
  }

  addAlert(r: TailRecord): void {
    if (r.value === null) return;
    let alert: Alert;
    try {
      // The contract's validating decoder: the same check as the sink's archive.
      alert = decodeAlert(r.value);
    } catch (err) {
      this.rejected++;
      this.onReject('alert', r, err);
      return;
    }
    if (r.offset >= (this.liveFrom[r.partition] ?? 0)) this.alertsRead++;
    this.emit({
      stream: 'alerts',
      partition: r.partition,
      offset: r.offset,
      alertId: alert.alertId,
      userId: alert.userId,
      json: JSON.stringify(alert),
    });
  }

  addLabel(r: TailRecord): void {
    if (r.value === null) return;
    let label: AlertLabel;
    try {
      label = decodeLabel(r.value);
    } catch (err) {
      this.rejected++;
      this.onReject('label', r, err);
      return;
    }
    this.labels.add(label);
    if (r.offset < (this.labelsLogFrom[r.partition] ?? 0)) return;
    this.emit({
      stream: 'labels',
      partition: r.partition,
      offset: r.offset,
      alertId: label.alertId,
      userId: undefined,
      json: JSON.stringify(label),
    });
  }

  /** An alert's JSON with its labels as known now (the DeskAlert of the API). */
  deskAlertJson(entry: FeedEntry): string {
    return `${entry.json.slice(0, -1)},"labels":${JSON.stringify(this.labels.of(entry.alertId))}}`;
  }

  /** The held alert entries that match, oldest first. */
  heldAlerts(match: (e: FeedEntry) => boolean): FeedEntry[] {
    const out: FeedEntry[] = [];
    for (const e of this.log.all()) if (e.stream === 'alerts' && match(e)) out.push(e);
    return out;
  }
}

export interface RunningFeed {
  feed: AlertFeed;
  stop(): Promise<void>;
}

/**
 * Starts the feed on Kafka: alerts from a bounded distance behind each partition's end (most of
 * the capacity; the archive has the rest), labels from the beginning. Resolves once every label
 * already on the topic is in the index, so the first page served carries all labels.
 */
export const startAlertFeed = async (o: {
  kafka: KafkaClient;
  admin: KafkaAdmin;
  log: Logger;
  alertsTopic: string;
  labelsTopic: string;
  capacity: number;
  startTimeoutMs?: number;
}): Promise<RunningFeed> => {
  const alertMarks = await o.admin.watermarks(o.alertsTopic);
  const labelMarks = await o.admin.watermarks(o.labelsTopic);
  const perPartition = Math.max(1, Math.floor((o.capacity * 0.8) / Math.max(1, alertMarks.length)));
  const feed = new AlertFeed({
    capacity: o.capacity,
    starts: {
      alerts: alertMarks.map((w) => Math.max(w.low, w.high - perPartition)),
      labels: labelMarks.map((w) => w.high),
    },
    liveFrom: alertMarks.map((w) => w.high),
    onReject: (what, r, err) =>
      o.log.warn({ err, topic: r.topic, partition: r.partition, offset: r.offset }, `${what} record skipped`),
  });
  const labelsTarget = labelMarks.map((w) => w.high);
  const labelsRead = labelMarks.map((w) => w.low);
  const loaded = () => labelsRead.every((off, p) => off >= labelsTarget[p]!);
  let resolveLoaded: () => void = () => undefined;
  const labelsLoaded = new Promise<void>((resolve) => (resolveLoaded = resolve));
  if (loaded()) resolveLoaded();
  const tail: TopicTail = tailTopics({
    kafka: o.kafka,
    log: o.log,
    specs: [
      { topic: o.alertsTopic, from: feed.log.firstHeld().alerts },
      { topic: o.labelsTopic, from: labelMarks.map((w) => w.low) },
    ],
    onRecords: (records) => {
      for (const r of records) {
        if (r.topic === o.labelsTopic) {
          feed.addLabel(r);
          labelsRead[r.partition] = r.offset + 1;
        } else {
          feed.addAlert(r);
        }
      }
      if (loaded()) resolveLoaded();
    },
  });
  // The labels topic is written by an idempotent (not transactional) producer: its end is the
  // offset after its last record, which the tail reaches.
  const timeoutMs = o.startTimeoutMs ?? 30000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TradewatchError('FEED_START_TIMEOUT', `labels not loaded within ${timeoutMs} ms`, {
            retriable: true,
          }),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([labelsLoaded, timedOut]);
  } catch (err) {
    await tail.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  o.log.info(
    { labels: feed.labels.size, alertsHeld: feed.log.size, partitions: alertMarks.length },
    'alert feed started',
  );
  return { feed, stop: () => tail.stop() };
};
