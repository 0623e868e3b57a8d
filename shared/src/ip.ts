// IP address validation and normalisation: IPv6 lower-case and compressed (RFC 5952), and an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d, how dual-stack sockets report IPv4 clients) as the
// IPv4 address it stands for, so that one client never counts as two IPs.
import { isIP, SocketAddress } from 'node:net';

// A dotted quad without leading zeros is already canonical; most traffic is IPv4, and this test
// is several times cheaper than building a SocketAddress (which every service does per event).
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CANONICAL_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** SocketAddress writes every address of ::ffff:0:0/96 with this prefix and a dotted quad. */
const MAPPED_PREFIX = '::ffff:';

/**
 * The IPv4 address of an IPv4-mapped IPv6 address in canonical text (`::ffff:203.0.113.10`),
 * or the text unchanged. Only ::ffff:0:0/96 is mapped: the deprecated IPv4-compatible form
 * (`::1.2.3.4`) and IPv4-translated addresses (`::ffff:0:1.2.3.4`) are other IPv6 addresses.
 */
export const unmapIpv4 = (canonical: string): string =>
  canonical.startsWith(MAPPED_PREFIX) && CANONICAL_IPV4.test(canonical.slice(MAPPED_PREFIX.length))
    ? canonical.slice(MAPPED_PREFIX.length)
    : canonical;

/** The canonical text form of an IPv4 or IPv6 address, or undefined if it is not one. */
export const normalizeIp = (text: string): string | undefined => {
  if (CANONICAL_IPV4.test(text)) return text;
  // Zone ids (fe80::1%eth0) are host-local: they identify nothing across machines.
  if (text.includes('%')) return undefined;
  const family = isIP(text);
  if (family === 0) return undefined;
  if (family === 4) return new SocketAddress({ address: text, family: 'ipv4' }).address;
  return unmapIpv4(new SocketAddress({ address: text, family: 'ipv6' }).address);
};
