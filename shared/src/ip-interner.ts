// Maps IP address strings to 32-bit codes and back, so that state stores 4 bytes per IP and
// compares IPs as integers. A canonical IPv4 address below 240.0.0.0 is its own code (its 32-bit
// value): no table entry, so a million players' home IPs cost nothing beyond their 4 bytes.
// Anything else (IPv6, 240.0.0.0/4, or any other text) is interned: code 0xF0000000 + table
// index, kept for the life of the process and shared by the partitions of one process.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address: events are normalised so by
// the event contract, and state written before that rule (its changelog) is read the same way.
import { unmapIpv4 } from './ip.ts';

export const NO_IP = 0xffffffff;
const INTERNED = 0xf0000000;
const MAX_INTERNED = NO_IP - INTERNED; // exclusive

/**
 * The 32-bit value of a canonical dotted-quad IPv4 address below 240.0.0.0 (no leading zeros),
 * or -1. Only canonical text qualifies, so that `ipv4Text(parseCanonicalIpv4(s)) === s`.
 */
export const parseCanonicalIpv4 = (s: string): number => {
  const len = s.length;
  if (len < 7 || len > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  value = value * 256 + octet;
  return value < INTERNED ? value : -1;
};

export const ipv4Text = (v: number): string =>
  `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;

export class IpInterner {
  private readonly ids = new Map<string, number>();
  private readonly ips: string[] = [];

  /** The code of `ip`: its IPv4 value, or an interned id. */
  intern(text: string): number {
    const v4 = parseCanonicalIpv4(text);
    if (v4 >= 0) return v4;
    const ip = unmapIpv4(text);
    if (ip !== text) return this.intern(ip);
    let id = this.ids.get(ip);
    if (id === undefined) {
      id = this.ips.length;
      if (id >= MAX_INTERNED) throw new RangeError('too many distinct non-IPv4 addresses');
      this.ips.push(ip);
      this.ids.set(ip, id);
    }
    return INTERNED + id;
  }

  lookup(code: number): string {
    if (code < INTERNED) return ipv4Text(code);
    const ip = this.ips[code - INTERNED];
    if (ip === undefined) throw new RangeError(`unknown ip code ${code}`);
    return ip;
  }

  /** True when `code` is an IPv4 value rather than an interned id. */
  static isIpv4(code: number): boolean {
    return code < INTERNED;
  }

  /** Number of interned (non-IPv4) addresses. */
  get size(): number {
    return this.ips.length;
  }
}
