// Inserts a batch of serialised rows into one archive table. If ClickHouse rejects the batch for
// its content, the batch is bisected until the rejected rows are isolated: those are returned
// (for the dead-letter topic) and every other row lands. Rows inserted twice along the way are
// harmless: the tables are ReplacingMergeTrees keyed by the row's id.
import { TradewatchError } from '@tradewatch/shared/errors';
import {
  classifyClickHouseError,
  insertJsonEachRowBody,
  type ClickHouseClient,
} from '@tradewatch/shared/clickhouse';

/** Rows to insert: `pieces(from, to)` is the JSONEachRow body of rows [from, to). */
export interface RowBatch {
  readonly length: number;
  pieces(from: number, to: number): (string | Uint8Array)[];
}

/** A RowBatch of rows serialised one per string. */
export const stringRows = (rows: readonly string[]): RowBatch => ({
  length: rows.length,
  pieces: (from, to) => (from >= to ? [] : [`${rows.slice(from, to).join('\n')}\n`]),
});

export interface RejectedRow {
  /** Index of the row in the batch given to insert(). */
  index: number;
  reason: string;
}

export interface ArchiveWriterOptions {
  client: ClickHouseClient;
  /** Called once per split, for metrics. */
  onBisect?: () => void;
}

export class ArchiveWriter {
  private readonly client: ClickHouseClient;
  private readonly onBisect: () => void;

  constructor(options: ArchiveWriterOptions) {
    this.client = options.client;
    this.onBisect = options.onBisect ?? (() => undefined);
  }

  /**
   * Resolves with the rows ClickHouse refused once all others are stored. Rejects with a
   * retriable error if ClickHouse is unavailable (retry the whole batch later), or with a
   * non-retriable one if the batch fails in a way no row can be blamed for.
   */
  async insert(table: string, batch: RowBatch | readonly string[]): Promise<RejectedRow[]> {
    const rows = isRowBatch(batch) ? batch : stringRows(batch);
    if (rows.length === 0) return [];
    const rejected = await this.insertRange(table, rows, 0, rows.length);
    if (rows.length > 1 && rejected.length === rows.length) {
      // Rows are written by our own encoders: all of them failing means the table does not
      // match the code (a missing migration), which dead letters would only hide.
      throw new TradewatchError(
        'CLICKHOUSE_SCHEMA_MISMATCH',
        `ClickHouse rejected every row of a ${rows.length}-row batch into ${table}: ${rejected[0]!.reason}`,
      );
    }
    return rejected;
  }

  private async insertRange(table: string, rows: RowBatch, from: number, to: number): Promise<RejectedRow[]> {
    try {
      await insertJsonEachRowBody(this.client, table, rows.pieces(from, to));
      return [];
    } catch (err) {
      const e = classifyClickHouseError(err);
      if (e.code !== 'CLICKHOUSE_DATA_REJECTED') throw e;
      if (to - from === 1) return [{ index: from, reason: e.message }];
      this.onBisect();
      const mid = from + Math.ceil((to - from) / 2);
      const left = await this.insertRange(table, rows, from, mid);
      const right = await this.insertRange(table, rows, mid, to);
      return [...left, ...right];
    }
  }
}

const isRowBatch = (b: RowBatch | readonly string[]): b is RowBatch => !Array.isArray(b);
