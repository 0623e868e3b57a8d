// Tokens: parsing (clear and hashed), constant-time lookup, and that no token reaches a log line
// or an error message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TradewatchError } from '@tradewatch/shared/errors';
import { authenticate, parseTokens } from '../src/auth.ts';
import { loadGatewayConfig } from '../src/config.ts';
import { JSON_HEADERS, TOKEN, TOKEN_B, buildTestApp, trade } from './support/memory-ports.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('clear and sha256-hashed tokens both authenticate, case-insensitive scheme', () => {
  const tokens = parseTokens(
    `gs-a:${TOKEN}, gs-b:sha256:${sha(TOKEN_B).toUpperCase()} ,gs-a:rotated-token-2`,
  );
  assert.deepEqual(authenticate(tokens, `Bearer ${TOKEN}`), { gameServerId: 'gs-a', mode: 'live' });
  assert.equal(authenticate(tokens, `bearer ${TOKEN_B}`)?.gameServerId, 'gs-b');
  assert.equal(authenticate(tokens, 'BEARER rotated-token-2')?.gameServerId, 'gs-a');
  assert.equal(authenticate(tokens, `Bearer sha256:${sha(TOKEN_B)}`), undefined, 'the hash is not the token');
  for (const bad of [
    undefined,
    '',
    TOKEN,
    `Bearer  `,
    `Bearer ${TOKEN} x`,
    `Token ${TOKEN}`,
    `Bearer ${TOKEN.slice(0, -1)}`,
  ]) {
    assert.equal(authenticate(tokens, bad), undefined, String(bad));
  }
});

test('serverId:sandbox:token (or sandbox:sha256:<hex>) is a sandbox token of that server', () => {
  const tokens = parseTokens(`gs-a:${TOKEN},gs-a:sandbox:${TOKEN_B},gs-b:sandbox:sha256:${sha('sandbox-3')}`);
  assert.deepEqual(authenticate(tokens, `Bearer ${TOKEN}`), { gameServerId: 'gs-a', mode: 'live' });
  assert.deepEqual(authenticate(tokens, `Bearer ${TOKEN_B}`), { gameServerId: 'gs-a', mode: 'sandbox' });
  assert.deepEqual(authenticate(tokens, 'Bearer sandbox-3'), { gameServerId: 'gs-b', mode: 'sandbox' });
  assert.equal(
    authenticate(tokens, `Bearer sandbox:${TOKEN_B}`),
    undefined,
    'the marker is not part of the token',
  );
  assert.throws(() => parseTokens(`gs-a:same-4,gs-a:sandbox:same-4`), /live and as a sandbox token/);
  assert.throws(() => parseTokens('gs-a:sandbox:'), /serverId:sandbox:token/);
  assert.equal(loadGatewayConfig({ TRADEWATCH_DEMO: '1' }).tokens.filter((t) => t.sandbox).length, 1);
});

test('token configuration errors are listed without revealing any token', () => {
  assert.throws(() => parseTokens(''), /no tokens/);
  assert.throws(() => parseTokens('no-colon-secret-1'), /serverId:token/);
  assert.throws(() => parseTokens('bad id:secret-2'), /serverId/);
  assert.throws(() => parseTokens('gs-a:same-secret-3,gs-b:same-secret-3'), /same token/);
  const err = (() => {
    try {
      loadGatewayConfig({
        GATEWAY_TOKENS: 'gs-a:secret-xyz-4,gs-b:sha256:' + sha('secret-xyz-4'),
        GATEWAY_PORT: 'x',
      });
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a ConfigError');
  })();
  assert.match(err.message, /same token/);
  assert.match(err.message, /GATEWAY_PORT/, 'every problem is listed at once');
  assert.doesNotMatch(err.message, /secret-xyz/);
  assert.throws(() => loadGatewayConfig({}), /GATEWAY_TOKENS is required/);
  assert.equal(loadGatewayConfig({ TRADEWATCH_DEMO: '1' }).tokens[0]?.gameServerId, 'demo');
});

test('no token appears in any log line, whatever happens to the request', async () => {
  const { app, publisher, lines } = await buildTestApp();
  const wrong = 'wrong-token-secret-5';
  await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: JSON_HEADERS,
    payload: JSON.stringify(trade(1)),
  });
  await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...JSON_HEADERS, authorization: `Bearer ${wrong}` },
    payload: '{}',
  });
  await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{bad json' });
  publisher.failWith = new TradewatchError('KAFKA_ERROR', 'down', { retriable: true });
  await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: JSON_HEADERS,
    payload: JSON.stringify(trade(2)),
  });
  publisher.failWith = new Error('unexpected');
  await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: JSON_HEADERS,
    payload: JSON.stringify(trade(3)),
  });
  await app.inject({ method: 'GET', url: `/nowhere?token=x`, headers: JSON_HEADERS });
  assert.ok(lines.length >= 6, 'the requests were logged');
  const all = lines.join('\n');
  for (const secret of [TOKEN, TOKEN_B, wrong])
    assert.equal(all.includes(secret), false, 'a token was logged');
  assert.ok(
    lines.some((l) => l.includes('"gameServerId":"gs-alpha"')),
    'the server identity is logged instead',
  );
});
