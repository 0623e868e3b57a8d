// The desk's pure logic without I/O: users and tokens, signed sessions and CSRF tokens, the feed
// cursor, the feed's memory and the label index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AlertLabel } from '@tradewatch/shared/labels';
import { authenticateBearer, authenticateToken, can, parseUsers } from '../src/users.ts';
import { SessionSigner } from '../src/sessions.ts';
import { decodeCursor, encodeCursor } from '../src/feed-cursor.ts';
import { FeedLog, type FeedEntry } from '../src/feed-log.ts';
import { LabelIndex } from '../src/label-index.ts';
import { loadDashboardConfig } from '../src/config.ts';

test('users: name:role:token entries, hashed tokens, clear errors that never show a token', () => {
  const hex = createHash('sha256').update('hashed-secret-1').digest('hex');
  const users = parseUsers(`vera:viewer:plain-secret-1, ana:analyst:sha256:${hex}`);
  assert.deepEqual(
    users.map((u) => [u.name, u.role]),
    [
      ['vera', 'viewer'],
      ['ana', 'analyst'],
    ],
  );
  assert.equal(authenticateToken(users, 'hashed-secret-1')?.name, 'ana');
  assert.equal(
    authenticateToken(users, 'hashed-secret-1', 'vera'),
    undefined,
    'the name must match the token',
  );
  assert.equal(authenticateBearer(users, 'Bearer plain-secret-1')?.name, 'vera');
  assert.equal(authenticateBearer(users, 'Basic plain-secret-1'), undefined);
  assert.equal(authenticateToken(users, ''), undefined);
  const bad: [string, RegExp][] = [
    ['vera:viewer', /name:role:token/],
    ['vera:boss:secret-123', /role must be one of viewer, analyst, admin/],
    ['ve ra:viewer:secret-123', /a name is/],
    ['vera:viewer:short', /at least 8/],
    ['vera:viewer:secret-123,vera:admin:secret-456', /listed twice/],
    ['vera:viewer:secret-123,ana:admin:secret-123', /same token/],
    ['', /no users/],
  ];
  for (const [text, message] of bad) {
    assert.throws(
      () => parseUsers(text),
      (err: Error) => message.test(err.message) && !/secret-\d/.test(err.message),
      text,
    );
  }
  assert.equal(can('viewer', 'label'), false);
  assert.equal(can('analyst', 'label'), true);
  assert.equal(can('analyst', 'manage_rules'), false);
  assert.equal(can('admin', 'manage_rules'), true);
});

test('config: users are required unless the demo is on; every problem is listed at once', () => {
  assert.throws(
    () => loadDashboardConfig({ DASHBOARD_PORT: 'x', DASHBOARD_SESSION_SECRET: 'short' }),
    (err: Error) =>
      /DASHBOARD_USERS must be set/.test(err.message) &&
      /DASHBOARD_PORT/.test(err.message) &&
      /DASHBOARD_SESSION_SECRET/.test(err.message),
  );
  const demo = loadDashboardConfig({ TRADEWATCH_DEMO: '1' });
  assert.equal(demo.demoUsers, true);
  assert.deepEqual(
    demo.users.map((u) => `${u.name}:${u.role}`),
    ['demo-viewer:viewer', 'demo-analyst:analyst', 'demo-admin:admin'],
  );
  assert.equal(demo.port, 8081);
  const real = loadDashboardConfig({ DASHBOARD_USERS: 'ana:analyst:analyst-token-1', TRADEWATCH_DEMO: '1' });
  assert.equal(real.demoUsers, false, 'configured users win over the demo');
});

test('sessions: a signed cookie ends with its TTL, a forged or altered one is refused, a changed user signs out', () => {
  let now = 1_000_000;
  const users = parseUsers('ana:analyst:analyst-token-1');
  const signer = new SessionSigner(Buffer.alloc(32, 3), 60_000, () => now);
  const { value } = signer.issue(users[0]!);
  assert.equal(signer.verify(value, users)?.name, 'ana');
  assert.equal(
    new SessionSigner(Buffer.alloc(32, 4), 60_000, () => now).verify(value, users),
    undefined,
    'another key',
  );
  const [payload, mac] = value.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ n: 'ana', e: now + 1e9, f: 'x' })).toString('base64url');
  assert.equal(signer.verify(`${forged}.${mac}`, users), undefined);
  assert.equal(signer.verify(`${payload}.`, users), undefined);
  assert.equal(signer.verify(undefined, users), undefined);
  assert.equal(signer.verify(value, parseUsers('ana:admin:analyst-token-1')), undefined, 'a changed role');
  assert.equal(signer.verify(value, parseUsers('ana:analyst:analyst-token-2')), undefined, 'a changed token');
  const csrf = signer.csrfToken(value);
  assert.equal(signer.checkCsrf(value, csrf), true);
  assert.equal(signer.checkCsrf(value, undefined), false);
  assert.equal(signer.checkCsrf(signer.issue(users[0]!).value.replace(/^./, 'x'), csrf), false);
  now += 60_001;
  assert.equal(signer.verify(value, users), undefined, 'expired');
});

test('cursor: offsets of both topics round-trip; anything else is invalid_cursor', () => {
  const c = { alerts: [12, 0, 99_000_000_000], labels: [3] };
  assert.equal(encodeCursor(c), '12,0,99000000000~3');
  assert.deepEqual(decodeCursor(encodeCursor(c)), c);
  for (const bad of ['', '~', '1,2', '1,,2~3', 'a~1', '1~2~3', '-1~0', `${'1,'.repeat(3000)}1~0`]) {
    assert.throws(() => decodeCursor(bad), { code: 'invalid_cursor' }, bad);
  }
});

const entry = (partition: number, offset: number): FeedEntry => ({
  stream: 'alerts',
  partition,
  offset,
  alertId: `a${partition}-${offset}`,
  userId: 'u',
  json: '{}',
});

test('feed log: holds the newest entries, knows from where it holds everything, replays after a cursor', () => {
  const log = new FeedLog(4, { alerts: [10, 0], labels: [0] });
  for (const [p, o] of [
    [0, 10],
    [1, 0],
    [0, 12],
    [1, 1],
    [0, 13],
  ] as const) {
    log.append(entry(p, o));
  }
  assert.equal(log.size, 4);
  assert.deepEqual(log.head(), { alerts: [14, 2], labels: [0] });
  assert.deepEqual(log.firstHeld(), { alerts: [11, 0], labels: [0] }, 'offset 10 of partition 0 was evicted');
  assert.equal(log.covers({ alerts: [11, 0], labels: [0] }), true);
  assert.equal(log.covers({ alerts: [10, 0], labels: [0] }), false);
  assert.equal(log.covers({ alerts: [11], labels: [0] }), false, 'another partition count');
  assert.deepEqual(
    [...log.after({ alerts: [13, 1], labels: [0] })].map((e) => e.alertId),
    ['a1-1', 'a0-13'],
  );
});

test('label index: newest first, the later read wins a tie, replays are ignored', () => {
  const idx = new LabelIndex();
  const l = (label: AlertLabel['label'], at: number, author = 'ana'): AlertLabel => ({
    alertId: 'x',
    label,
    note: '',
    author,
    labelledAt: at,
  });
  assert.equal(idx.add(l('needs_review', 5)), true);
  assert.equal(idx.add(l('confirmed_fraud', 9)), true);
  assert.equal(idx.add(l('false_positive', 7)), true);
  assert.equal(idx.add(l('false_positive', 7)), false, 'the same record again');
  assert.equal(idx.add(l('needs_review', 9, 'bo')), true);
  assert.deepEqual(
    idx.of('x').map((x) => `${x.label}@${x.labelledAt}`),
    ['needs_review@9', 'confirmed_fraud@9', 'false_positive@7', 'needs_review@5'],
  );
  assert.deepEqual([...idx.alertsLabelled('needs_review')], ['x']);
  assert.deepEqual([...idx.alertsLabelled('confirmed_fraud')], []);
  assert.equal(idx.size, 4);
});
