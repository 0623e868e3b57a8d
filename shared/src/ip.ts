// IP address validation and normalisation (IPv6 lower-case and compressed, per RFC 5952).
import { isIP, SocketAddress } from 'node:net';

/** The canonical text form of an IPv4 or IPv6 address, or undefined if it is not one. */
export const normalizeIp = (text: string): string | undefined => {
  // Zone ids (fe80::1%eth0) are host-local: they identify nothing across machines.
  if (text.includes('%')) return undefined;
  const family = isIP(text);
  if (family === 0) return undefined;
  return new SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
};
