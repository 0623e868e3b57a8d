// Publishes validated events to `game-events`, keyed by userId, and resolves each request's
// promise once Kafka acknowledged its events from all in-sync replicas (acks=all, idempotent
// producer).
//
// kafkajs' idempotent producer sends one request per broker at a time, so sends are made one
// after another: while one is in flight, the events of the requests that arrive meanwhile wait,
// in arrival order, and go together in the next send. Under load this batches many small HTTP
// requests into one Kafka request; when idle, a request is sent at once. The order of a user's
// events is the order in which requests arrived, within a request and across them.
import { encodeEvent } from '@tradewatch/shared/events';
import { classifyKafkaError, type Message, type Producer } from '@tradewatch/shared/kafka';
import type { EventPublisher } from './ports.ts';

export interface KafkaPublisherOptions {
  topic: string;
  /** Timeout of one produce request at the broker, ms. */
  requestTimeoutMs: number;
  /**
   * Upper bound of the bytes in one send. It keeps every record batch under the broker's
   * message.max.bytes (1 MiB by default) even when all events have the same key; a request
   * larger than this is split over consecutive sends.
   */
  maxSendBytes?: number;
}

interface Waiting {
  /** Sends of this request still outstanding; it resolves when they reach 0. */
  parts: number;
  failed: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Record overhead beyond key and value (headers, lengths, offsets), generously rounded up. */
const RECORD_OVERHEAD = 64;

export const createKafkaPublisher = (producer: Producer, opts: KafkaPublisherOptions): EventPublisher => {
  const maxSendBytes = opts.maxSendBytes ?? 768 * 1024;
  const queue: { request: Waiting; messages: Message[]; bytes: number }[] = [];
  let sending = false;

  const sendLoop = async (): Promise<void> => {
    sending = true;
    while (queue.length > 0) {
      // Take whole queued chunks, in order, up to the byte bound (at least one chunk). The rest of
      // a request whose earlier part failed is not sent: it has been answered already.
      const first = queue.shift()!;
      if (first.request.failed) continue;
      const chunks = [first];
      let bytes = chunks[0]!.bytes;
      while (queue.length > 0 && bytes + queue[0]!.bytes <= maxSendBytes) {
        const next = queue.shift()!;
        if (next.request.failed) continue;
        bytes += next.bytes;
        chunks.push(next);
      }
      try {
        await producer.send({
          topic: opts.topic,
          acks: -1,
          timeout: opts.requestTimeoutMs,
          messages: chunks.length === 1 ? chunks[0]!.messages : chunks.flatMap((c) => c.messages),
        });
        for (const { request } of chunks) {
          request.parts -= 1;
          if (request.parts === 0 && !request.failed) request.resolve();
        }
      } catch (err) {
        const e = classifyKafkaError(err);
        for (const { request } of chunks) {
          if (!request.failed) request.reject(e);
          request.failed = true;
        }
      }
    }
    sending = false;
  };

  return {
    publish(events) {
      if (events.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const request: Waiting = { parts: 0, failed: false, resolve, reject };
        let chunk: Message[] = [];
        let chunkBytes = 0;
        const flushChunk = () => {
          queue.push({ request, messages: chunk, bytes: chunkBytes });
          request.parts += 1;
          chunk = [];
          chunkBytes = 0;
        };
        for (const ev of events) {
          const value = encodeEvent(ev);
          const size = Buffer.byteLength(value) + Buffer.byteLength(ev.userId) + RECORD_OVERHEAD;
          if (chunk.length > 0 && chunkBytes + size > maxSendBytes) flushChunk();
          chunk.push({ key: ev.userId, value });
          chunkBytes += size;
        }
        flushChunk();
        if (!sending) void sendLoop();
      });
    },
  };
};
