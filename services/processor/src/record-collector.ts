// Owns one transaction's output on its way out (Kafka Streams' RecordCollectorImpl): records
// are buffered and sent in chunks, one chunk at a time and in order; the first failure is kept
// and thrown by every later call, so that nothing is sent after it and the transaction is
// aborted. A chunk stays below the broker's message.max.bytes (1 MiB) per partition's batch.
import type { OutgoingRecord, TransactionalProducer } from '@tradewatch/shared/kafka-port';

/** Bytes of records per send. */
export const SEND_CHUNK_BYTES = 512 * 1024;
/** Per-record overhead in a record batch, as counted towards the chunk size. */
const RECORD_OVERHEAD = 24;

const sizeOf = (r: OutgoingRecord): number => {
  const len = (v: Buffer | string | null | undefined) =>
    v === null || v === undefined ? 0 : typeof v === 'string' ? v.length * 3 : v.length;
  let headers = 0;
  for (const [k, v] of Object.entries(r.headers ?? {})) headers += k.length + len(v);
  return RECORD_OVERHEAD + len(r.key) + len(r.value) + headers;
};

export class RecordCollector {
  private readonly producer: Pick<TransactionalProducer, 'send'>;
  private readonly chunkBytes: number;
  private buffer: OutgoingRecord[] = [];
  private bytes = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Records handed to send(). */
  records = 0;

  constructor(producer: Pick<TransactionalProducer, 'send'>, chunkBytes = SEND_CHUNK_BYTES) {
    this.producer = producer;
    this.chunkBytes = chunkBytes;
  }

  /** Throws the first send failure, if any. */
  checkForException(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  send(records: readonly OutgoingRecord[]): void {
    this.checkForException();
    for (const r of records) {
      this.buffer.push(r);
      this.bytes += sizeOf(r);
      this.records++;
      if (this.bytes >= this.chunkBytes) this.sendBuffered();
    }
  }

  private sendBuffered(): void {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = [];
    this.bytes = 0;
    this.sending = this.sending.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await this.producer.send(chunk);
      } catch (err) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      }
    });
  }

  /** Sends what is buffered and waits for every send; throws the first failure. */
  async flush(): Promise<void> {
    this.sendBuffered();
    await this.sending;
    this.checkForException();
  }
}
