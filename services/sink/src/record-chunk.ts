// A fetched batch of Kafka records packed into one buffer (so it can be handed to a mapping
// worker in one piece), and its mapping to archive rows: one JSONEachRow body per chunk, with
// the byte offset where each row ends and the record each row came from. Pure: no I/O.
//
// Packing keeps the hot path cheap: per chunk the sink holds a few buffers and typed arrays
// instead of an object per record, which is most of what the garbage collector would otherwise
// have to trace while a batch waits for its insert.
import { mapRecordValue, type ArchiveKind } from './archive-rows.ts';

export interface RecordChunk {
  /** Key then value bytes of every record, back to back. */
  data: Uint8Array;
  /** Start of record i's key in `data`. */
  pos: Int32Array;
  /** Length of record i's key, −1 for a null key. */
  keyLen: Int32Array;
  /** Length of record i's value, −1 for a null value. */
  valueLen: Int32Array;
  /** Offset of record i in its partition. */
  offsets: Float64Array;
}

export interface PackableRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: number;
}

export const packRecords = (records: readonly PackableRecord[]): RecordChunk => {
  const n = records.length;
  let size = 0;
  for (const r of records) size += (r.key?.length ?? 0) + (r.value?.length ?? 0);
  const data = Buffer.allocUnsafeSlow(size);
  const pos = new Int32Array(n);
  const keyLen = new Int32Array(n);
  const valueLen = new Int32Array(n);
  const offsets = new Float64Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    pos[i] = at;
    offsets[i] = r.offset;
    keyLen[i] = r.key === null ? -1 : r.key.length;
    if (r.key !== null) at += r.key.copy(data, at);
    valueLen[i] = r.value === null ? -1 : r.value.length;
    if (r.value !== null) at += r.value.copy(data, at);
  }
  return { data, pos, keyLen, valueLen, offsets };
};

const view = (data: Uint8Array, start: number, len: number): Buffer | null =>
  len < 0 ? null : Buffer.from(data.buffer, data.byteOffset + start, len);

export const recordKey = (c: RecordChunk, i: number): Buffer | null => view(c.data, c.pos[i]!, c.keyLen[i]!);

export const recordValue = (c: RecordChunk, i: number): Buffer | null =>
  view(c.data, c.pos[i]! + Math.max(c.keyLen[i]!, 0), c.valueLen[i]!);

export interface MappingFailure {
  record: number;
  reason: string;
  detail: string;
}

export interface MappedChunk {
  /** The rows, each followed by a newline: a JSONEachRow body as UTF-8. */
  body: Uint8Array;
  /** Byte offset just past row j's newline. */
  rowEnds: Int32Array;
  /** The record row j came from. */
  rowRecord: Int32Array;
  failures: MappingFailure[];
}

const UTF8 = new TextEncoder();

/** Maps every record of a chunk read from `partition` to its archive row, or to why it has none. */
export const mapChunk = (kind: ArchiveKind, c: RecordChunk, partition: number): MappedChunk => {
  const n = c.pos.length;
  const data = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.length);
  const rows: string[] = [];
  const rowRecord = new Int32Array(n);
  const failures: MappingFailure[] = [];
  for (let i = 0; i < n; i++) {
    const start = c.pos[i]!;
    const keyLen = c.keyLen[i]!;
    const valueLen = c.valueLen[i]!;
    const valueStart = start + Math.max(keyLen, 0);
    const mapped = mapRecordValue(
      kind,
      keyLen < 0 ? null : data.toString('utf8', start, start + keyLen),
      valueLen < 0 ? null : data.subarray(valueStart, valueStart + valueLen),
      { partition, offset: c.offsets[i]! },
    );
    if (mapped.ok) {
      rowRecord[rows.length] = i;
      rows.push(mapped.row);
    } else {
      failures.push({ record: i, reason: mapped.reason, detail: mapped.detail });
    }
  }
  const text = rows.length === 0 ? '' : `${rows.join('\n')}\n`;
  // Its own ArrayBuffer (not Node's shared pool), so that a worker can transfer it.
  const body = UTF8.encode(text);
  // UTF-8 is as long as UTF-16 only when every character is ASCII; then lengths are byte counts.
  const ascii = body.length === text.length;
  const rowEnds = new Int32Array(rows.length);
  let end = 0;
  for (let j = 0; j < rows.length; j++) {
    const row = rows[j]!;
    end += (ascii ? row.length : Buffer.byteLength(row, 'utf8')) + 1;
    rowEnds[j] = end;
  }
  return { body, rowEnds, rowRecord: rowRecord.slice(0, rows.length), failures };
};

/**
 * The rows of several mapped chunks as one sequence, for inserting and, if ClickHouse rejects
 * some, for bisecting: `pieces(from, to)` is the JSONEachRow body of rows [from, to) as views
 * of the chunks' buffers (no copy).
 */
export class ChunkedRows {
  readonly length: number;
  private readonly chunks: readonly MappedChunk[];
  /** Index of the first row of each chunk, and the total at the end. */
  private readonly starts: number[];

  constructor(chunks: readonly MappedChunk[]) {
    this.chunks = chunks;
    this.starts = [0];
    for (const c of chunks) this.starts.push(this.starts[this.starts.length - 1]! + c.rowEnds.length);
    this.length = this.starts[this.starts.length - 1]!;
  }

  /** The chunk holding row `row`, and the row's index within it. */
  locate(row: number): { chunk: number; local: number } {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= row) lo = mid;
      else hi = mid - 1;
    }
    return { chunk: lo, local: row - this.starts[lo]! };
  }

  pieces(from: number, to: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let k = 0; k < this.chunks.length && from < to; k++) {
      const first = this.starts[k]!;
      const last = this.starts[k + 1]!;
      if (last <= from) continue;
      const c = this.chunks[k]!;
      const a = from - first;
      const b = Math.min(to, last) - first;
      const byteStart = a === 0 ? 0 : c.rowEnds[a - 1]!;
      const byteEnd = c.rowEnds[b - 1]!;
      out.push(c.body.subarray(byteStart, byteEnd));
      from = first + b;
    }
    return out;
  }

  /** Row `row` as text (for messages about a rejected row). */
  text(row: number): string {
    return Buffer.concat(this.pieces(row, row + 1))
      .toString('utf8')
      .trimEnd();
  }
}
