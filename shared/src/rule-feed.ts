// Keeps a rule book (rules.ts) up to date with the `rules` topic: reads its one partition from the
// beginning and on, adds every valid definition in topic order (so every reader builds the same
// book), and keeps proving that it is caught up: every `refreshMs` it asks for the topic's end and
// notes the time it asked once it has read that far. A reader that applies events only while the
// proof is recent (`isFresh`) uses every version written more than `maxStalenessMs` before — the
// bound that makes a version written ahead of its effectiveFrom apply exactly by event time.
// Written against the Kafka port.
import type { KafkaAdmin, PartitionReader, RecordBatch } from './kafka-port.ts';
import type { Logger } from './logger.ts';
import { decodeRuleRecord, type RuleBook, type RuleDefinition } from './rules.ts';

export interface RuleFeedOptions {
  reader: PartitionReader;
  admin: Pick<KafkaAdmin, 'watermarks'>;
  topic: string;
  book: RuleBook;
  log: Logger;
  /** How often the topic's end is asked for, ms. */
  refreshMs: number;
  /** A version added to the book (not a duplicate). */
  onAdded?: (d: RuleDefinition) => void;
  now?: () => number;
}

/** What the processor (and tests) need of a feed: the book and whether it is recent enough. */
export interface RuleSource {
  readonly book: RuleBook;
  /** True when the book holds every version written up to `maxStalenessMs` ago. */
  isFresh(now: number): boolean;
  /** Resolves once isFresh holds. */
  fresh(): Promise<void>;
}

/** A fixed book (tests, the backtest): always fresh. */
export const fixedRules = (book: RuleBook): RuleSource => ({
  book,
  isFresh: () => true,
  fresh: () => Promise.resolve(),
});

interface Waiter {
  target: number;
  askedAt: number;
}

export class RuleFeed implements RuleSource {
  readonly book: RuleBook;
  private readonly o: RuleFeedOptions;
  private readonly now: () => number;
  private readonly maxStalenessMs: number;
  /** Next offset to read. */
  private position = 0;
  /** When the latest end we have read past was asked for. */
  private freshAsOf = Number.NEGATIVE_INFINITY;
  private waiting: Waiter[] = [];
  private freshWaiters: (() => void)[] = [];
  private caughtUpWaiters: { askedAt: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private asking = false;
  private askAgain = false;
  /** Versions skipped because they were invalid or conflicted. */
  rejected = 0;
  /** `ruleId/version` of every valid record read (the seed counts only once it is on the topic). */
  private readonly onTopic = new Set<string>();

  constructor(o: RuleFeedOptions, maxStalenessMs: number) {
    this.o = o;
    this.book = o.book;
    this.now = o.now ?? Date.now;
    this.maxStalenessMs = maxStalenessMs;
  }

  get failed(): Promise<never> {
    return this.o.reader.failed;
  }

  /** Starts reading; resolves once the whole topic as it was at the start has been read. */
  async start(): Promise<void> {
    this.o.reader.start((batch) => this.onBatch(batch));
    this.o.reader.assign({ topic: this.o.topic, partition: 0 }, 0);
    this.timer = setInterval(() => void this.ask(), this.o.refreshMs);
    this.timer.unref();
    await this.caughtUp();
  }

  /** Whether a record of this version has been read from the topic. */
  isOnTopic(ruleId: string, version: number): boolean {
    return this.onTopic.has(`${ruleId}/${version}`);
  }

  isFresh(now: number): boolean {
    return now - this.freshAsOf <= this.maxStalenessMs;
  }

  fresh(): Promise<void> {
    if (this.isFresh(this.now())) return Promise.resolve();
    return new Promise((resolve) => this.freshWaiters.push(resolve));
  }

  /** Resolves once everything written to the topic before this call has been read. */
  caughtUp(): Promise<void> {
    const askedAt = this.now();
    const done = new Promise<void>((resolve) => this.caughtUpWaiters.push({ askedAt, resolve }));
    void this.ask();
    return done;
  }

  private async ask(): Promise<void> {
    if (this.stopped) return;
    if (this.asking) {
      // A caller needs an answer asked after now: ask again as soon as this one is back.
      this.askAgain = true;
      return;
    }
    this.asking = true;
    const askedAt = this.now();
    try {
      const marks = await this.o.admin.watermarks(this.o.topic);
      const target = marks.find((w) => w.partition === 0)?.high ?? 0;
      this.waiting.push({ target, askedAt });
      this.settle();
    } catch (err) {
      // The book may be going stale: readers wait (isFresh) until an answer comes.
      this.o.log.warn({ err, topic: this.o.topic }, 'rules topic end unknown, retrying');
    } finally {
      this.asking = false;
      if (this.askAgain) {
        this.askAgain = false;
        void this.ask();
      }
    }
  }

  private onBatch(batch: RecordBatch): void {
    for (const r of batch.records) {
      const decoded = decodeRuleRecord(r.key, r.value);
      if (!decoded.ok) {
        this.rejected++;
        this.o.log.warn({ offset: r.offset, detail: decoded.detail }, 'invalid rule record skipped');
        continue;
      }
      const d = decoded.definition;
      this.onTopic.add(`${d.ruleId}/${d.version}`);
      const added = this.book.add(d);
      if (added === 'conflict') {
        this.rejected++;
        this.o.log.warn(
          { offset: r.offset, ruleId: d.ruleId, version: d.version },
          'a second definition of a rule version skipped: the first one read stays',
        );
      } else if (added === 'added') {
        this.o.log.info(
          { ruleId: d.ruleId, version: d.version, mode: d.mode, effectiveFrom: d.effectiveFrom },
          'rule version read',
        );
        this.o.onAdded?.(d);
      }
    }
    if (batch.nextOffset > this.position) this.position = batch.nextOffset;
    this.settle();
  }

  private settle(): void {
    const still: Waiter[] = [];
    for (const w of this.waiting) {
      if (this.position >= w.target) this.freshAsOf = Math.max(this.freshAsOf, w.askedAt);
      else still.push(w);
    }
    this.waiting = still;
    if (this.freshWaiters.length > 0 && this.isFresh(this.now())) {
      const waiters = this.freshWaiters;
      this.freshWaiters = [];
      for (const resolve of waiters) resolve();
    }
    const pending = [];
    for (const c of this.caughtUpWaiters) {
      if (this.freshAsOf >= c.askedAt) c.resolve();
      else pending.push(c);
    }
    this.caughtUpWaiters = pending;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.o.reader.close();
  }
}
