// Binary encoding of one user's state for the changelog topic (compacted, keyed by userId).
// Layout v1: u8 version | u8 hasSession [u8 len, ip] | u8 n, n × (u8 len, ip) | u8 n, n × f64 |
// u8 n, n × u64. IPs are ASCII; lists are oldest first. Pure: no I/O.
import type { UserSnapshot } from './user-state-store.ts';

const VERSION = 1;

export const encodeUserState = (s: UserSnapshot): Buffer => {
  const ips = s.sessionIp === undefined ? s.pastIps : [s.sessionIp, ...s.pastIps];
  const size =
    4 + ips.reduce((n, ip) => n + 1 + ip.length, 0) + s.amounts.length * 8 + s.eventHashes.length * 8 + 1;
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  buf[o++] = VERSION;
  const writeIp = (ip: string) => {
    buf[o++] = ip.length;
    o += buf.write(ip, o, 'latin1');
  };
  buf[o++] = s.sessionIp === undefined ? 0 : 1;
  if (s.sessionIp !== undefined) writeIp(s.sessionIp);
  buf[o++] = s.pastIps.length;
  for (const ip of s.pastIps) writeIp(ip);
  buf[o++] = s.amounts.length;
  for (const a of s.amounts) o = buf.writeDoubleLE(a, o);
  buf[o++] = s.eventHashes.length;
  for (const h of s.eventHashes) o = buf.writeBigUInt64LE(h, o);
  return buf.subarray(0, o);
};

export class StateDecodeError extends Error {}

export const decodeUserState = (buf: Buffer): UserSnapshot => {
  let o = 0;
  const need = (n: number) => {
    if (o + n > buf.length) throw new StateDecodeError(`truncated state record (${buf.length} bytes)`);
  };
  const u8 = () => {
    need(1);
    return buf[o++]!;
  };
  const readIp = () => {
    const len = u8();
    need(len);
    const ip = buf.toString('latin1', o, o + len);
    o += len;
    return ip;
  };
  const version = u8();
  if (version !== VERSION) throw new StateDecodeError(`unknown state version ${version}`);
  const sessionIp = u8() === 1 ? readIp() : undefined;
  const pastIps = Array.from({ length: u8() }, readIp);
  const amounts = Array.from({ length: u8() }, () => {
    need(8);
    const v = buf.readDoubleLE(o);
    o += 8;
    return v;
  });
  const eventHashes = Array.from({ length: u8() }, () => {
    need(8);
    const v = buf.readBigUInt64LE(o);
    o += 8;
    return v;
  });
  return { sessionIp, pastIps, amounts, eventHashes };
};
