// The consumer side of the archive: records of `game-events`, `alerts` and `alert-labels` are
// mapped to rows and buffered per partition; a buffer is inserted when it reaches its size bound
// or its time bound, and the partition's offset is committed only after ClickHouse confirmed the
// insert (and the dead letters of the batch are in Kafka). A crash at any point therefore re-reads at most the
// batches not yet committed, and re-inserting them is harmless (ReplacingMergeTrees whose keys
// tell records apart).
//
// While ClickHouse is unavailable the consumer is paused (heartbeats continue, so the group
// keeps its partitions), each pending batch is retried with exponential backoff, and
// consumption resumes once every failing batch got through.
//
// Tracing: each record whose `traceparent` is sampled gets a span for the insert that archives
// it, a child of the span that wrote the record (trace-context.ts); the ClickHouse request is
// traced under the first of them.
import { context, trace, SpanKind, type Context, type Span } from '@opentelemetry/api';
import { TradewatchError, isRetriable } from '@tradewatch/shared/errors';
import { deadLetterRecord, type DeadLetterReason } from '@tradewatch/shared/dead-letters';
import type {
  GroupConsumer,
  OutgoingRecord,
  Producer,
  RecordBatch,
  TopicPartition,
} from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import { endWithError, sampledRecordContext } from '@tradewatch/shared/trace-context';
import type { ArchiveKind } from './archive-rows.ts';
import type { ArchiveWriter } from './archive-writer.ts';
import {
  ChunkedRows,
  packRecords,
  recordKey,
  recordValue,
  type MappedChunk,
  type RecordChunk,
} from './record-chunk.ts';
import type { RecordMapper } from './record-mapper.ts';
import type { BatchLimits, RetryPolicy } from './config.ts';
import { backoffDelay } from './retry-backoff.ts';
import type { SinkStats } from './sink-stats.ts';

export interface ArchiveSinkOptions {
  consumer: GroupConsumer;
  /** Producer of the dead-letter topic. */
  producer: Producer;
  writer: ArchiveWriter;
  /** Decodes, validates and serialises records (on worker threads, normally). */
  mapper: RecordMapper;
  log: Logger;
  stats: SinkStats;
  topics: Readonly<Record<ArchiveKind, string>>;
  /** Quoted table names, e.g. `tradewatch`.`events`. */
  tables: Readonly<Record<ArchiveKind, string>>;
  deadLetterTopic: string;
  batch: BatchLimits;
  retry: RetryPolicy;
  /** Called once with an error the sink cannot recover from; the process should exit. */
  onFatal: (err: unknown) => void;
  now?: () => number;
}

/** A fetched batch, packed, and its rows. */
interface Part {
  records: RecordChunk;
  mapped: MappedChunk;
  /** The trace contexts of the part's sampled records. */
  traced: Context[];
}

/** Spans per insert at most: a batch of a fully sampled topic is still one insert. */
const MAX_TRACED_PER_INSERT = 1000;
const tracer = trace.getTracer('tradewatch-sink');

/** What one insert carries: rows, the records they came from, and the offset to commit after. */
interface PendingBatch {
  parts: Part[];
  rows: number;
  deadLetters: OutgoingRecord[];
  records: number;
  bytes: number;
  firstAt: number;
  nextOffset: number | undefined;
}

const emptyBatch = (): PendingBatch => ({
  parts: [],
  rows: 0,
  deadLetters: [],
  records: 0,
  bytes: 0,
  firstAt: 0,
  nextOffset: undefined,
});

/** The buffer of one assigned topic-partition. Closed (and forgotten) when the group rebalances. */
class PartitionBuffer {
  pending: PendingBatch = emptyBatch();
  inFlight: Promise<void> | undefined;
  closed = false;
  readonly kind: ArchiveKind;
  readonly topic: string;
  readonly partition: number;
  constructor(kind: ArchiveKind, topic: string, partition: number) {
    this.kind = kind;
    this.topic = topic;
    this.partition = partition;
  }

  take(): PendingBatch {
    const b = this.pending;
    this.pending = emptyBatch();
    return b;
  }
}

export class ArchiveSink {
  private readonly o: ArchiveSinkOptions;
  private readonly now: () => number;
  private readonly kinds: ReadonlyMap<string, ArchiveKind>;
  private readonly buffers = new Map<string, PartitionBuffer>();
  /** Buffers whose flush is currently failing because ClickHouse is unavailable. */
  private readonly failing = new Set<PartitionBuffer>();
  private paused = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly sleepers = new Set<() => void>();

  constructor(options: ArchiveSinkOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    const kinds = Object.entries(options.topics).map(
      ([kind, topic]) => [topic, kind as ArchiveKind] as const,
    );
    this.kinds = new Map(kinds);
    if (this.kinds.size !== kinds.length) {
      throw new TradewatchError(
        'SINK_TOPICS',
        `archived topics must differ: ${kinds.map(([t]) => t).join(', ')}`,
      );
    }
  }

  /** Rows buffered and not yet inserted, over all partitions. */
  bufferedRows(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.pending.rows;
    return n;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  async start(): Promise<void> {
    const tick = Math.min(250, Math.max(10, Math.floor(this.o.batch.maxWaitMs / 4)));
    this.timer = setInterval(() => this.flushExpired(), tick);
    await this.o.consumer.start({
      onAssigned: (partitions) => {
        this.o.log.info({ partitions }, 'partitions assigned');
        if (this.paused) this.o.consumer.pause(partitions);
      },
      // What a revoked partition's buffer holds will be read again (here or by another member)
      // from the committed offset: drop it, and let an in-flight flush skip its commit.
      onRevoked: (partitions, lost) => {
        const dropped = this.close(partitions);
        this.o.log.info({ partitions, lost, dropped }, 'partitions revoked');
      },
      onRecords: (batch) => this.onBatch(batch),
    });
  }

  /**
   * Stops consuming, inserts and commits what is buffered (one attempt each: if ClickHouse is
   * down the records are simply read again next time), then leaves the group.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    for (const wake of this.sleepers) wake();
    await Promise.all([...this.buffers.values()].map((b) => b.inFlight ?? Promise.resolve()));
    await Promise.all(
      [...this.buffers.values()]
        .filter((b) => b.pending.nextOffset !== undefined)
        .map((b) => this.startFlush(b)),
    );
    await this.o.consumer.close();
  }

  private kindOf(topic: string): ArchiveKind {
    const kind = this.kinds.get(topic);
    if (kind === undefined) throw new TradewatchError('SINK_TOPICS', `records of an unknown topic ${topic}`);
    return kind;
  }

  private bufferFor(topic: string, partition: number): PartitionBuffer {
    const key = `${topic}\u0000${partition}`;
    let buf = this.buffers.get(key);
    if (buf === undefined) {
      buf = new PartitionBuffer(this.kindOf(topic), topic, partition);
      this.buffers.set(key, buf);
    }
    return buf;
  }

  private close(partitions: readonly TopicPartition[]): number {
    let dropped = 0;
    for (const tp of partitions) {
      const key = `${tp.topic}\u0000${tp.partition}`;
      const b = this.buffers.get(key);
      this.o.stats.revoked(tp.topic, tp.partition);
      if (b === undefined) continue;
      b.closed = true;
      dropped += b.pending.records;
      this.failing.delete(b);
      this.buffers.delete(key);
    }
    return dropped;
  }

  private async onBatch(batch: RecordBatch): Promise<void> {
    if (this.stopping) return;
    const buf = this.bufferFor(batch.topic, batch.partition);
    this.o.stats.fetched(
      batch.topic,
      batch.partition,
      batch.highWatermark,
      batch.records[0]?.offset ?? batch.nextOffset,
    );
    let part: Part | undefined;
    if (batch.records.length > 0) {
      const traced: Context[] = [];
      for (const r of batch.records) {
        const ctx = sampledRecordContext(r.headers);
        if (ctx !== undefined && traced.length < MAX_TRACED_PER_INSERT) traced.push(ctx);
      }
      const records = packRecords(batch.records);
      part = { records, mapped: await this.o.mapper.map(buf.kind, records, buf.partition), traced };
    }
    // A rebalance while mapping: these records will be read again from the committed offset.
    if (buf.closed || this.stopping) return;
    const p = buf.pending;
    if (p.records === 0) p.firstAt = this.now();
    // Past transaction markers and aborted records too, which are not in `records`.
    p.nextOffset = batch.nextOffset;
    if (part !== undefined) {
      const { records, mapped } = part;
      p.parts.push(part);
      p.records += records.pos.length;
      p.rows += mapped.rowEnds.length;
      p.bytes += mapped.body.length;
      for (const f of mapped.failures)
        p.deadLetters.push(this.deadLetter(buf, records, f.record, f.reason as DeadLetterReason, f.detail));
    }
    const { maxRows, maxBytes, maxWaitMs } = this.o.batch;
    if (p.rows >= maxRows || p.bytes >= maxBytes) {
      // At most one insert in flight per partition (commits stay in order) and one batch filling
      // behind it: past that, hold this fetch until the insert is through.
      if (buf.inFlight !== undefined) await this.waitFor(buf.inFlight);
      if (!buf.closed && !this.stopping && buf.inFlight === undefined) void this.startFlush(buf);
    } else if (buf.inFlight === undefined && this.now() - p.firstAt >= maxWaitMs) {
      void this.startFlush(buf);
    }
  }

  private flushExpired(): void {
    const now = this.now();
    for (const buf of this.buffers.values()) {
      if (
        buf.inFlight === undefined &&
        buf.pending.records > 0 &&
        now - buf.pending.firstAt >= this.o.batch.maxWaitMs
      ) {
        void this.startFlush(buf);
      }
    }
  }

  /** Starts inserting the buffer's pending batch; the returned promise never rejects. */
  private startFlush(buf: PartitionBuffer): Promise<void> {
    const batch = buf.take();
    const flight: Promise<void> = this.flush(buf, batch)
      .catch((err: unknown) => {
        this.o.log.fatal({ err, topic: buf.topic, partition: buf.partition }, 'archive flush failed');
        this.o.onFatal(err);
      })
      .finally(() => {
        if (buf.inFlight === flight) buf.inFlight = undefined;
      });
    buf.inFlight = flight;
    return flight;
  }

  private async flush(buf: PartitionBuffer, batch: PendingBatch): Promise<void> {
    const table = this.o.tables[buf.kind];
    const rows = new ChunkedRows(batch.parts.map((part) => part.mapped));
    const spans = this.insertSpans(batch, table, rows.length);
    try {
      await this.flushTraced(buf, batch, table, rows, spans[0]);
    } catch (err) {
      for (const span of spans) endWithError(span, err);
      throw err;
    }
    for (const span of spans) span.end();
  }

  private insertSpans(batch: PendingBatch, table: string, rows: number): Span[] {
    const spans: Span[] = [];
    for (const part of batch.parts) {
      for (const ctx of part.traced) {
        if (spans.length === MAX_TRACED_PER_INSERT) return spans;
        spans.push(
          tracer.startSpan(
            `INSERT ${table.replaceAll('`', '')}`,
            {
              kind: SpanKind.CLIENT,
              attributes: {
                'db.system.name': 'clickhouse',
                'db.operation.name': 'INSERT',
                'db.collection.name': table.replaceAll('`', ''),
                'db.operation.batch.size': rows,
              },
            },
            ctx,
          ),
        );
      }
    }
    return spans;
  }

  private async flushTraced(
    buf: PartitionBuffer,
    batch: PendingBatch,
    table: string,
    rows: ChunkedRows,
    span: Span | undefined,
  ): Promise<void> {
    if (span !== undefined) {
      return context.with(trace.setSpan(context.active(), span), () =>
        this.flushTraced(buf, batch, table, rows, undefined),
      );
    }
    let deadLetters: OutgoingRecord[] | undefined;
    for (let attempt = 1; ; attempt++) {
      if (buf.closed) {
        this.o.stats.abandonedBatches++;
        this.recovered(buf);
        return;
      }
      try {
        if (deadLetters === undefined) {
          const started = performance.now();
          const rejected = await this.o.writer.insert(table, rows);
          this.o.stats.inserted(buf.kind, rows.length - rejected.length, performance.now() - started);
          deadLetters = [...batch.deadLetters];
          for (const r of rejected) {
            const { chunk, local } = rows.locate(r.index);
            const part = batch.parts[chunk]!;
            deadLetters.push(
              this.deadLetter(
                buf,
                part.records,
                part.mapped.rowRecord[local]!,
                'clickhouse_rejected',
                r.reason,
              ),
            );
          }
          this.recovered(buf);
        }
        if (deadLetters.length > 0) {
          await this.o.producer.send(deadLetters);
          this.o.stats.deadLettered(deadLetters.length);
          deadLetters = [];
        }
        break;
      } catch (err) {
        const e =
          err instanceof TradewatchError
            ? err
            : new TradewatchError('SINK_FLUSH_FAILED', String(err), { cause: err });
        if (!isRetriable(e)) throw e;
        this.o.stats.insertRetried();
        const delayMs = backoffDelay(this.o.retry, attempt);
        // One failure may be a connection the server had just closed; two in a row is an outage.
        if (e.code === 'CLICKHOUSE_UNAVAILABLE' && attempt >= 2) this.unavailable(buf, e);
        this.o.log[attempt <= 2 ? 'warn' : 'debug'](
          { err: e, topic: buf.topic, partition: buf.partition, rows: rows.length, attempt, delayMs },
          'archive flush failed, retrying',
        );
        if (this.stopping) {
          this.o.stats.abandonedBatches++;
          this.recovered(buf);
          return;
        }
        await this.sleep(delayMs);
      }
    }
    if (buf.closed || batch.nextOffset === undefined) return;
    try {
      await this.o.consumer.commit([
        { topic: buf.topic, partition: buf.partition, offset: batch.nextOffset },
      ]);
      this.o.stats.committed(buf.topic, buf.partition, batch.nextOffset);
    } catch (err) {
      // Typically a rebalance: the rows are stored, the next owner re-reads them harmlessly.
      this.o.stats.commitFailures++;
      this.o.log.warn({ err, topic: buf.topic, partition: buf.partition }, 'offset commit failed');
    }
  }

  private unavailable(buf: PartitionBuffer, err: TradewatchError): void {
    this.failing.add(buf);
    if (this.paused) return;
    this.paused = true;
    this.o.stats.outageStarted(this.now());
    this.o.consumer.pause(this.o.consumer.assignment());
    this.o.log.warn({ err }, 'ClickHouse unavailable: consumption paused, retrying with backoff');
  }

  private recovered(buf: PartitionBuffer): void {
    this.failing.delete(buf);
    if (!this.paused || this.failing.size > 0) return;
    this.paused = false;
    const outageMs = this.o.stats.outageEnded(this.now());
    if (!this.stopping) {
      this.o.consumer.resume(this.o.consumer.assignment());
    }
    this.o.log.info({ outageMs }, 'ClickHouse available again: consumption resumed');
  }

  private deadLetter(
    buf: PartitionBuffer,
    records: RecordChunk,
    i: number,
    reason: DeadLetterReason,
    detail: string,
  ): OutgoingRecord {
    const offset = records.offsets[i]!;
    this.o.log.warn(
      { topic: buf.topic, partition: buf.partition, offset, reason, detail },
      'record sent to dead letters',
    );
    return deadLetterRecord(this.o.deadLetterTopic, {
      source: { topic: buf.topic, partition: buf.partition, offset },
      key: recordKey(records, i),
      value: recordValue(records, i),
      reason,
      detail,
      stage: 'sink',
    });
  }

  /** Waits for `p` or for stop(); the group heartbeats meanwhile, so the partitions stay. */
  private async waitFor(p: Promise<void>): Promise<void> {
    let settled = false;
    const done = p.finally(() => {
      settled = true;
    });
    while (!settled && !this.stopping) await Promise.race([done, this.sleep(1000)]);
  }

  /** A delay that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}
