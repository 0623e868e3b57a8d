// Publishes validated events to `game-events` (or, for a sandbox token, to the sandbox topic),
// keyed by userId, and resolves each request's promise once Kafka acknowledged its events from
// all in-sync replicas (acks=all, idempotent producer), with the partition and offset of each.
//
// Sends are made one after another (so that a user's events keep their order across requests
// even when a send is retried): while one is in flight, the events of the requests that arrive
// meanwhile wait, in arrival order, and go together in the next send. Under load this batches many small HTTP
// requests into one Kafka request; when idle, a request is sent at once. The order of a user's
// events is the order in which requests arrived, within a request and across them.
//
// Offsets: each record names its partition (Kafka's keyed partitioner, partitioner.ts, over the
// partition count read at start-up), and one send writes one record batch per partition, in the
// order given, whose base offset the broker returns: the n-th record of a partition in a send is
// at base + n. A topic that gains partitions keeps its users where they were until a restart.
//
// Tracing: a sampled request's publish is a producer span, from the call to the acknowledgement,
// and its records carry that span in their `traceparent` header (trace-context.ts).
import { trace } from '@opentelemetry/api';
import { encodeEvent } from '@tradewatch/shared/events';
import type { OutgoingRecord, Producer } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { TradewatchError } from '@tradewatch/shared/errors';
import { endWithError, startPublishSpan, traceHeaders } from '@tradewatch/shared/trace-context';
import { createGatewayMetrics, type PublishMetrics } from './gateway-metrics.ts';
import type { EventPosition, EventPublisher, IngestMode } from './ports.ts';

export interface PublishTarget {
  topic: string;
  partitions: number;
}

export interface KafkaPublisherOptions {
  targets: Readonly<Record<IngestMode, PublishTarget>>;
  /**
   * Upper bound of the bytes in one send. It keeps every record batch under the broker's
   * message.max.bytes (1 MiB by default) even when all events have the same key; a request
   * larger than this is split over consecutive sends.
   */
  maxSendBytes?: number;
  metrics?: PublishMetrics;
}

/** The header that marks a record as a sandbox event, beside its topic. */
export const SANDBOX_HEADER = 'tw-sandbox';

interface Waiting {
  /** Sends of this request still outstanding; it resolves when they reach 0. */
  parts: number;
  failed: boolean;
  positions: EventPosition[];
  resolve: (positions: EventPosition[]) => void;
  reject: (err: unknown) => void;
}

interface Chunk {
  request: Waiting;
  mode: IngestMode;
  messages: OutgoingRecord[];
  /** Index in the request of the chunk's first event. */
  first: number;
  bytes: number;
}

/** Record overhead beyond key and value (headers, lengths, offsets), generously rounded up. */
const RECORD_OVERHEAD = 64;

export const createKafkaPublisher = (producer: Producer, opts: KafkaPublisherOptions): EventPublisher => {
  const maxSendBytes = opts.maxSendBytes ?? 768 * 1024;
  const metrics = opts.metrics ?? createGatewayMetrics();
  const tracer = trace.getTracer('tradewatch-gateway');
  const queue: Chunk[] = [];
  let sending = false;

  /** Fills in the positions of the chunks' events from the base offset of each partition. */
  const place = (chunks: readonly Chunk[], bases: ReadonlyMap<number, number>): void => {
    const next = new Map<number, number>();
    for (const c of chunks) {
      c.messages.forEach((m, i) => {
        const partition = m.partition!;
        const base = bases.get(partition);
        if (base === undefined) {
          throw new TradewatchError('KAFKA_ERROR', `no offset returned for partition ${partition}`);
        }
        const n = next.get(partition) ?? 0;
        next.set(partition, n + 1);
        c.request.positions[c.first + i] = { partition, offset: base + n };
      });
    }
  };

  const sendLoop = async (): Promise<void> => {
    sending = true;
    while (queue.length > 0) {
      // Take whole queued chunks of one topic, in order, up to the byte bound (at least one
      // chunk). The rest of a request whose earlier part failed is not sent: it has been
      // answered already.
      const first = queue.shift()!;
      if (first.request.failed) continue;
      const chunks = [first];
      let bytes = first.bytes;
      while (queue.length > 0 && queue[0]!.mode === first.mode && bytes + queue[0]!.bytes <= maxSendBytes) {
        const next = queue.shift()!;
        if (next.request.failed) continue;
        bytes += next.bytes;
        chunks.push(next);
      }
      try {
        const written = await producer.send(
          chunks.length === 1 ? first.messages : chunks.flatMap((c) => c.messages),
        );
        place(chunks, new Map(written.map((w) => [w.partition, w.baseOffset])));
        metrics.published(
          opts.targets[first.mode].topic,
          chunks.reduce((n, c) => n + c.messages.length, 0),
        );
        for (const { request } of chunks) {
          request.parts -= 1;
          if (request.parts === 0 && !request.failed) request.resolve(request.positions);
        }
      } catch (err) {
        // A TradewatchError of the Kafka port: its `retriable` says whether the client may retry.
        for (const { request } of chunks) {
          if (!request.failed) request.reject(err);
          request.failed = true;
        }
      }
    }
    sending = false;
  };

  return {
    topic: (mode) => opts.targets[mode].topic,

    publish(events, mode) {
      if (events.length === 0) return Promise.resolve([]);
      const { topic, partitions } = opts.targets[mode];
      const span = startPublishSpan(tracer, topic, events.length);
      let headers: Record<string, string> | undefined =
        mode === 'sandbox' ? { [SANDBOX_HEADER]: '1' } : undefined;
      if (span !== undefined) headers = { ...headers, ...traceHeaders(span) };
      return new Promise<EventPosition[]>((settled, failed) => {
        const resolve = (positions: EventPosition[]) => {
          span?.end();
          settled(positions);
        };
        const reject = (err: unknown) => {
          if (span !== undefined) endWithError(span, err);
          failed(err instanceof Error ? err : new Error(String(err)));
        };
        const request: Waiting = { parts: 0, failed: false, positions: [], resolve, reject };
        let chunk: OutgoingRecord[] = [];
        let chunkBytes = 0;
        let first = 0;
        const flushChunk = () => {
          queue.push({ request, mode, messages: chunk, first, bytes: chunkBytes });
          request.parts += 1;
          first += chunk.length;
          chunk = [];
          chunkBytes = 0;
        };
        for (const ev of events) {
          const value = encodeEvent(ev);
          const size = Buffer.byteLength(value) + Buffer.byteLength(ev.userId) + RECORD_OVERHEAD;
          if (chunk.length > 0 && chunkBytes + size > maxSendBytes) flushChunk();
          const message: OutgoingRecord = {
            topic,
            key: ev.userId,
            value,
            partition: partitionForKey(ev.userId, partitions),
          };
          if (headers !== undefined) message.headers = headers;
          chunk.push(message);
          chunkBytes += size;
        }
        flushChunk();
        if (!sending) void sendLoop();
      });
    },
  };
};
