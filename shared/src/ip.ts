// IP address validation and normalisation (IPv6 lower-case and compressed, per RFC 5952).
import { isIP, SocketAddress } from 'node:net';

// A dotted quad without leading zeros is already canonical; most traffic is IPv4, and this test
// is several times cheaper than building a SocketAddress (which every service does per event).
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CANONICAL_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** The canonical text form of an IPv4 or IPv6 address, or undefined if it is not one. */
export const normalizeIp = (text: string): string | undefined => {
  if (CANONICAL_IPV4.test(text)) return text;
  // Zone ids (fe80::1%eth0) are host-local: they identify nothing across machines.
  if (text.includes('%')) return undefined;
  const family = isIP(text);
  if (family === 0) return undefined;
  return new SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
};
