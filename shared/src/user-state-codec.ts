// Binary encoding of one user's state for the changelog topic (compacted, keyed by userId).
// Lists are oldest first; integers little-endian unless said otherwise.
//   v2 (written): u8 2 | u8 hasSession [ip] | u8 n, n × ip | u8 n, n × f64 | u8 n, n × u64
//       ip = u8 0, u32 big-endian (an IPv4 address below 240.0.0.0)
//          | u8 len (1..255), len × latin1 (any other address text)
//   v1 (still read): the same with every ip as u8 len, len × latin1.
// The store (user-state-store.ts) writes and reads this straight from and into its columns; the
// snapshot functions here are the plain, object-based form of the same bytes. Pure: no I/O.
import { IpInterner, parseCanonicalIpv4, ipv4Text } from './ip-interner.ts';

export const STATE_VERSION = 2;

export interface UserSnapshot {
  sessionIp: string | undefined;
  pastIps: string[]; // oldest first
  amounts: number[]; // oldest first
  eventHashes: bigint[]; // oldest first
}

export class StateDecodeError extends Error {}

/** Bytes that `writeIp` takes for an address. */
export const ipEncodedSize = (ip: string): number => (parseCanonicalIpv4(ip) >= 0 ? 5 : 1 + ip.length);

/** Writes the ip with code `code` at `buf[o]`; returns the offset after it. */
export const writeIp = (buf: Buffer, o: number, code: number, ips: IpInterner): number => {
  if (IpInterner.isIpv4(code)) {
    buf[o] = 0;
    return buf.writeUInt32BE(code, o + 1);
  }
  const text = ips.lookup(code);
  if (text.length === 0 || text.length > 255) throw new RangeError(`ip text of ${text.length} chars`);
  buf[o] = text.length;
  return o + 1 + buf.write(text, o + 1, 'latin1');
};

/** Reads one ip (of a record of `version`) at `cursor.o`, advancing it; returns its code. */
export const readIp = (buf: Buffer, cursor: { o: number }, version: number, ips: IpInterner): number => {
  const o = cursor.o;
  if (o >= buf.length) throw new StateDecodeError(`truncated state record (${buf.length} bytes)`);
  const len = buf[o]!;
  if (version !== 1 && len === 0) {
    if (o + 5 > buf.length) throw new StateDecodeError(`truncated state record (${buf.length} bytes)`);
    const v = buf.readUInt32BE(o + 1);
    if (!IpInterner.isIpv4(v)) throw new StateDecodeError(`bad ipv4 value ${v}`);
    cursor.o = o + 5;
    return v;
  }
  if (o + 1 + len > buf.length) throw new StateDecodeError(`truncated state record (${buf.length} bytes)`);
  cursor.o = o + 1 + len;
  return ips.intern(buf.toString('latin1', o + 1, o + 1 + len));
};

export const encodeUserState = (s: UserSnapshot): Buffer => {
  const ips = s.sessionIp === undefined ? s.pastIps : [s.sessionIp, ...s.pastIps];
  const size =
    5 + ips.reduce((n, ip) => n + ipEncodedSize(ip), 0) + s.amounts.length * 8 + s.eventHashes.length * 8;
  const buf = Buffer.allocUnsafe(size);
  const codes = new IpInterner();
  let o = 0;
  buf[o++] = STATE_VERSION;
  buf[o++] = s.sessionIp === undefined ? 0 : 1;
  if (s.sessionIp !== undefined) o = writeIp(buf, o, codes.intern(s.sessionIp), codes);
  buf[o++] = s.pastIps.length;
  for (const ip of s.pastIps) o = writeIp(buf, o, codes.intern(ip), codes);
  buf[o++] = s.amounts.length;
  for (const a of s.amounts) o = buf.writeDoubleLE(a, o);
  buf[o++] = s.eventHashes.length;
  for (const h of s.eventHashes) o = buf.writeBigUInt64LE(h, o);
  return buf.subarray(0, o);
};

export const decodeUserState = (buf: Buffer): UserSnapshot => {
  const cursor = { o: 0 };
  const codes = new IpInterner();
  const need = (n: number) => {
    if (cursor.o + n > buf.length) throw new StateDecodeError(`truncated state record (${buf.length} bytes)`);
  };
  const u8 = () => {
    need(1);
    return buf[cursor.o++]!;
  };
  const version = u8();
  if (version !== 1 && version !== STATE_VERSION)
    throw new StateDecodeError(`unknown state version ${version}`);
  const ip = () => {
    const code = readIp(buf, cursor, version, codes);
    return IpInterner.isIpv4(code) ? ipv4Text(code) : codes.lookup(code);
  };
  const sessionIp = u8() === 1 ? ip() : undefined;
  const pastIps = Array.from({ length: u8() }, ip);
  const amounts = Array.from({ length: u8() }, () => {
    need(8);
    const v = buf.readDoubleLE(cursor.o);
    cursor.o += 8;
    return v;
  });
  const eventHashes = Array.from({ length: u8() }, () => {
    need(8);
    const v = buf.readBigUInt64LE(cursor.o);
    cursor.o += 8;
    return v;
  });
  return { sessionIp, pastIps, amounts, eventHashes };
};
