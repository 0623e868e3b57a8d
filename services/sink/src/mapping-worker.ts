// Worker thread of the record mapper: maps packed record chunks to archive rows (decode,
// validate, serialise), the CPU-heavy part of the sink, off the thread that runs Kafka and HTTP.
import { parentPort } from 'node:worker_threads';
import { mapChunk } from './record-chunk.ts';
import type { MapRequest, MapResponse } from './record-mapper.ts';

const port = parentPort;
if (port === null) throw new Error('mapping-worker.ts must run as a worker thread');

port.on('message', (req: MapRequest) => {
  let res: MapResponse;
  try {
    res = { id: req.id, ok: true, mapped: mapChunk(req.kind, req.chunk, req.partition) };
  } catch (err) {
    res = { id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  const transfer = res.ok
    ? [res.mapped.body.buffer, res.mapped.rowEnds.buffer, res.mapped.rowRecord.buffer]
    : [];
  port.postMessage(res, transfer as ArrayBuffer[]);
});
