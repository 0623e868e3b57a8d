// Serialisation: our outgoing records as the library's messages (keys, values and headers as
// Buffers), and the serialisers the library's producers are built with (Buffers pass through,
// header names become UTF-8).
import type { OutgoingRecord } from '../kafka-port.ts';

const toBuffer = (v: string | Buffer | null | undefined): Buffer | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;

export const serializers = {
  key: (v?: Buffer) => v,
  value: (v?: Buffer) => v,
  headerKey: (v?: string) => (v === undefined ? undefined : Buffer.from(v, 'utf8')),
  headerValue: (v?: Buffer) => v,
};

export interface PkMessage {
  topic: string;
  partition?: number;
  key?: Buffer;
  value?: Buffer;
  headers?: Map<string, Buffer>;
}

export const toPkMessage = (r: OutgoingRecord): PkMessage => {
  const m: PkMessage = { topic: r.topic };
  if (r.partition !== undefined) m.partition = r.partition;
  const key = toBuffer(r.key);
  if (key !== undefined) m.key = key;
  const value = toBuffer(r.value);
  if (value !== undefined) m.value = value;
  if (r.headers !== undefined) {
    m.headers = new Map(Object.entries(r.headers).map(([k, v]) => [k, toBuffer(v)!]));
  }
  return m;
};
