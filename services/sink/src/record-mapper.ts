// Maps packed record chunks to archive rows, either in this thread (workers = 0) or on a pool
// of worker threads, so that decoding and validating records uses more than one core.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { TradewatchError } from '@tradewatch/shared/errors';
import type { ArchiveKind } from './archive-rows.ts';
import { mapChunk, type MappedChunk, type RecordChunk } from './record-chunk.ts';

export interface RecordMapper {
  /** Maps a chunk of records read from one partition. */
  map(kind: ArchiveKind, chunk: RecordChunk, partition: number): Promise<MappedChunk>;
  close(): Promise<void>;
}

export interface MapRequest {
  id: number;
  kind: ArchiveKind;
  chunk: RecordChunk;
  partition: number;
}

export type MapResponse =
  { id: number; ok: true; mapped: MappedChunk } | { id: number; ok: false; error: string };

/**
 * Two workers at least (measured best on a 2-core machine, where they share the cores with
 * ClickHouse and Kafka), one per spare core above that, at most 4.
 */
export const defaultMappingWorkers = (): number => Math.min(4, Math.max(2, availableParallelism() - 1));

export const createRecordMapper = (workers: number): RecordMapper =>
  workers === 0
    ? {
        map: (kind, chunk, partition) => Promise.resolve(mapChunk(kind, chunk, partition)),
        close: () => Promise.resolve(),
      }
    : new WorkerRecordMapper(workers);

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (m: MappedChunk) => void; reject: (e: Error) => void }>;
}

class WorkerRecordMapper implements RecordMapper {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./mapping-worker.ts', import.meta.url));
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (res: MapResponse) => {
        const p = slot.pending.get(res.id);
        if (p === undefined) return;
        slot.pending.delete(res.id);
        if (res.ok) p.resolve(res.mapped);
        else p.reject(new TradewatchError('SINK_MAPPING_FAILED', `record mapping failed: ${res.error}`));
      });
      const failAll = (err: Error) => {
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('error', (err) =>
        failAll(new TradewatchError('SINK_MAPPING_FAILED', 'mapping worker crashed', { cause: err })),
      );
      worker.on('exit', (code) => {
        if (!this.closed)
          failAll(new TradewatchError('SINK_MAPPING_FAILED', `mapping worker exited with ${code}`));
      });
      this.slots.push(slot);
    }
  }

  map(kind: ArchiveKind, chunk: RecordChunk, partition: number): Promise<MappedChunk> {
    if (this.closed)
      return Promise.reject(new TradewatchError('SINK_MAPPING_FAILED', 'record mapper is closed'));
    // The least busy worker: chunks differ in size, so round-robin would queue behind big ones.
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      const req: MapRequest = { id, kind, chunk, partition };
      slot.worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
