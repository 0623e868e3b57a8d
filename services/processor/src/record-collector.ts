// Owns one transaction's output on its way out (Kafka Streams' RecordCollectorImpl): records
// are buffered and sent in chunks, one at a time (two sends of one transaction at once make
// @platformatic/kafka 2.12.1 fail the transaction with TRANSACTION_ABORTABLE); the first failure
// is kept and thrown by every later call, so that nothing is sent after it and the transaction is
// aborted. A chunk holds at most SEND_CHUNK_BYTES for any one partition (a partition's records in
// one request are one record batch, which must stay below the broker's message.max.bytes, 1 MiB);
// records without a partition (placed by key) count as one partition of their topic.
import type { OutgoingRecord, TransactionalProducer } from '@tradewatch/shared/kafka-port';

/** Bytes of records per partition per send. */
export const SEND_CHUNK_BYTES = 512 * 1024;
/** Chunks sent at once. */
export const MAX_IN_FLIGHT = 1;
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
  /** Bytes buffered per partition (`topic/partition`, or `topic/` for keyed records). */
  private readonly bytes = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
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

  /** Buffers `records`; resolves once the chunks filled meanwhile are on their way. */
  async send(records: readonly OutgoingRecord[]): Promise<void> {
    this.checkForException();
    for (const r of records) {
      this.buffer.push(r);
      const key = `${r.topic}/${r.partition ?? ''}`;
      const bytes = (this.bytes.get(key) ?? 0) + sizeOf(r);
      this.bytes.set(key, bytes);
      this.records++;
      if (bytes >= this.chunkBytes) await this.sendBuffered();
    }
  }

  private async sendBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    this.checkForException();
    const chunk = this.buffer;
    this.buffer = [];
    this.bytes.clear();
    const sent: Promise<void> = this.producer.send(chunk).then(
      () => void this.inFlight.delete(sent),
      (err: unknown) => {
        this.inFlight.delete(sent);
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    this.inFlight.add(sent);
  }

  /** Sends what is buffered and waits for every send; throws the first failure. */
  async flush(): Promise<void> {
    await this.sendBuffered();
    await Promise.all(this.inFlight);
    this.checkForException();
  }
}
