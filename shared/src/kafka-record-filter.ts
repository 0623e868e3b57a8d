// What a read_committed consumer may see of one partition's fetched record batches: the records
// of committed and non-transactional batches at or past the fetch offset, never a control batch,
// never a record of an aborted transaction, and the offset the next fetch starts at. This is the
// Java consumer's rule (Fetcher / CompletedFetch): walk the batches in offset order; a producer
// whose aborted transaction (from the fetch response's `abortedTransactions`) begins at or before
// a batch's last offset is aborted from there until its ABORT marker. The adapter applies it to
// every read_committed fetch: @platformatic/kafka 2.12.1's own filter keeps one aborted range per
// producer and lets records through when one fetch holds two aborted transactions of a producer,
// or when an aborted transaction spans fetches (kafka-client.integration.test.ts shows both).
// Pure: no I/O, no client library.

/** The fields of a fetched record batch this filter reads (Kafka's RecordBatch v2). */
export interface FetchedBatch {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  producerId: bigint;
  firstTimestamp: bigint;
  records: readonly {
    offsetDelta: number;
    timestampDelta: bigint;
    key: Buffer | null;
    value: Buffer | null;
    headers: readonly (readonly [Buffer | null, Buffer | null])[];
  }[];
}

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface FilteredRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Map<string, Buffer>;
}

const IS_TRANSACTIONAL = 0x10;
const IS_CONTROL = 0x20;
const NO_HEADERS: Map<string, Buffer> = new Map();

/** The control record of a control batch: version int16, type int16 (0 = ABORT, 1 = COMMIT). */
const isAbortMarker = (batch: FetchedBatch): boolean => {
  const key = batch.records[0]?.key;
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0;
};

export const committedRecords = (
  batches: readonly FetchedBatch[],
  aborted: readonly AbortedTransaction[] | null,
  fetchOffset: number,
): { records: FilteredRecord[]; nextOffset: number } => {
  const pending =
    aborted === null || aborted.length === 0
      ? []
      : [...aborted].sort((a, b) =>
          a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
        );
  const abortedProducers = new Set<bigint>();
  let next = 0;
  const records: FilteredRecord[] = [];
  let nextOffset = fetchOffset;
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    const after = Number(lastOffset) + 1;
    if (after > nextOffset) nextOffset = after;
    while (next < pending.length && pending[next]!.firstOffset <= lastOffset) {
      abortedProducers.add(pending[next]!.producerId);
      next++;
    }
    if ((batch.attributes & IS_CONTROL) !== 0) {
      if (isAbortMarker(batch)) abortedProducers.delete(batch.producerId);
      continue;
    }
    if ((batch.attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue;
    const first = Number(batch.firstOffset);
    const firstTimestamp = Number(batch.firstTimestamp);
    for (const r of batch.records) {
      const offset = first + r.offsetDelta;
      if (offset < fetchOffset) continue; // a batch may begin before the offset asked for
      let headers = NO_HEADERS;
      if (r.headers.length > 0) {
        headers = new Map();
        for (const [k, v] of r.headers) {
          if (k === null || v === null) continue;
          const name = k.toString('utf8');
          if (!headers.has(name)) headers.set(name, v);
        }
      }
      const timestamp = firstTimestamp + Number(r.timestampDelta);
      records.push({ offset, timestamp, key: r.key, value: r.value, headers });
    }
  }
  return { records, nextOffset };
};
