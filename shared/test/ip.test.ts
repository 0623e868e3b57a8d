import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { normalizeIp, unmapIpv4 } from '../src/ip.ts';

// The general path alone: what normalizeIp must agree with, fast path or not.
const viaSocketAddress = (text: string): string | undefined => {
  if (text.includes('%')) return undefined;
  const family = isIP(text);
  return family === 0
    ? undefined
    : unmapIpv4(new SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address);
};

test('IPv4 and IPv6 forms are normalised; anything else is refused', () => {
  const cases: [string, string | undefined][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['256.1.1.1', undefined],
    ['01.2.3.4', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    [' 1.2.3.4', undefined],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:203.0.113.10', '203.0.113.10'],
    ['::ffff:cb00:710a', '203.0.113.10'],
    ['0:0:0:0:0:FFFF:CB00:710A', '203.0.113.10'],
    ['::ffff:0.0.0.0', '0.0.0.0'],
    ['::ffff:01.2.3.4', undefined],
    // Not IPv4-mapped: IPv4-compatible (deprecated), IPv4-translated, and ::ffff itself.
    ['::1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
    ['::ffff', '::ffff'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['fe80::1%eth0', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) assert.equal(normalizeIp(input), expected, input);
});

test('agrees with the general path on dotted quads and near misses', () => {
  const octet = fc.oneof(
    fc.integer({ min: 0, max: 300 }).map(String),
    fc.constantFrom('00', '01', '007', '', '-1', 'a'),
  );
  fc.assert(
    fc.property(fc.array(octet, { minLength: 3, maxLength: 5 }), (parts) => {
      const text = parts.join('.');
      assert.equal(normalizeIp(text), viaSocketAddress(text));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.ipV4(), (ip) => assert.equal(normalizeIp(ip), viaSocketAddress(ip))),
    { numRuns: 2000 },
  );
});

test('an IPv4-mapped IPv6 address is the IPv4 address it maps, in every spelling', () => {
  fc.assert(
    fc.property(fc.ipV4(), (ip) => {
      const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
      for (const mapped of [
        `::ffff:${ip}`,
        `::FFFF:${ip}`,
        `0:0:0:0:0:ffff:${ip}`,
        `::ffff:${hex(a, b)}:${hex(c, d)}`,
        `0000:0000:0000:0000:0000:FFFF:${hex(a, b).padStart(4, '0')}:${hex(c, d)}`,
      ]) {
        assert.equal(normalizeIp(mapped), ip, mapped);
      }
    }),
    { numRuns: 1000 },
  );
});
