// The desk's API on in-memory ports: every status of docs/analysts.md, "The fraud desk", sessions, CSRF, roles, the page
// and its cursor, and the stream's resume. No I/O but the app's own HTTP for the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { AlertLabel } from '@tradewatch/shared/labels';
import type { AlertsPage, DeskAlert, Overview, SessionInfo, UserView } from '../src/api-types.ts';
import { BEARER, NOW, buildTestDesk, makeAlert, sseEvents } from './support/desk-ports.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

test('every /api route answers 401 without credentials and with an unknown token', async () => {
  const { app } = await buildTestDesk();
  const routes: [string, string][] = [
    ['GET', '/api/alerts'],
    ['GET', '/api/alerts/stream'],
    ['GET', '/api/users/u1'],
    ['GET', '/api/overview'],
    ['GET', '/api/session'],
    ['POST', '/api/alerts/x/labels'],
  ];
  for (const [method, url] of routes) {
    const none = await app.inject({ method: method as 'GET', url });
    assert.equal(none.statusCode, 401, `${method} ${url}`);
    assert.equal(none.json<{ error: string }>().error, 'unauthorized');
    const bad = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: 'Bearer nope-nope-nope' },
    });
    assert.equal(bad.statusCode, 401, `${method} ${url} with a bad token`);
    assert.equal(bad.json<{ error: string }>().error, 'invalid_credentials');
  }
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
});

test('sign-in sets an HttpOnly SameSite session cookie; the session needs its CSRF token to change anything', async () => {
  const { app, commitAlert } = await buildTestDesk();
  const alert = makeAlert(1);
  commitAlert(alert, 0, 0);
  const wrong = await app.inject({
    method: 'POST',
    url: '/api/session',
    headers: JSON_HEADERS,
    payload: { name: 'ana', token: 'viewer-token-1' },
  });
  assert.equal(wrong.statusCode, 401, 'a token of another user');
  assert.equal(wrong.cookies.length, 0);
  const missing = await app.inject({
    method: 'POST',
    url: '/api/session',
    headers: JSON_HEADERS,
    payload: { name: 'ana' },
  });
  assert.equal(missing.statusCode, 400);
  assert.match(missing.json<{ message: string }>().message, /token/);

  const ok = await app.inject({
    method: 'POST',
    url: '/api/session',
    headers: JSON_HEADERS,
    payload: { name: 'ana', token: 'analyst-token-1' },
  });
  assert.equal(ok.statusCode, 200);
  const info = ok.json<SessionInfo>();
  assert.equal(info.role, 'analyst');
  const cookie = ok.cookies[0]!;
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.doesNotMatch(JSON.stringify(ok.cookies), /analyst-token-1/, 'the token is not in the cookie');
  const cookies = { tw_desk_session: cookie.value };

  const me = await app.inject({ url: '/api/session', cookies });
  assert.equal(me.statusCode, 200);
  assert.deepEqual(me.json<SessionInfo>(), info);

  const url = `/api/alerts/${alert.alertId}/labels`;
  const payload = { label: 'false_positive' };
  const noCsrf = await app.inject({ method: 'POST', url, cookies, headers: JSON_HEADERS, payload });
  assert.equal(noCsrf.statusCode, 403);
  assert.equal(noCsrf.json<{ error: string }>().error, 'csrf_failed');
  const foreign = await app.inject({
    method: 'POST',
    url,
    cookies,
    headers: {
      ...JSON_HEADERS,
      'x-csrf-token': info.csrfToken,
      origin: 'https://evil.example',
      host: 'localhost:80',
    },
    payload,
  });
  assert.equal(foreign.statusCode, 403, 'another origin, even with the token');
  const good = await app.inject({
    method: 'POST',
    url,
    cookies,
    headers: { ...JSON_HEADERS, 'x-csrf-token': info.csrfToken },
    payload,
  });
  assert.equal(good.statusCode, 201);
  assert.equal(good.json<AlertLabel>().author, 'ana');

  const tampered = cookie.value.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
  assert.equal(
    (await app.inject({ url: '/api/session', cookies: { tw_desk_session: tampered } })).statusCode,
    401,
  );
  const out = await app.inject({
    method: 'DELETE',
    url: '/api/session',
    cookies,
    headers: { 'x-csrf-token': info.csrfToken },
  });
  assert.equal(out.statusCode, 204);
  assert.match(String(out.headers['set-cookie']), /tw_desk_session=;/);
});

test('labels: 201 with the stored label, 403 for a viewer, 404 for an unknown alert, 400 for bad input', async () => {
  const { app, commitAlert, labels, feed, archive } = await buildTestDesk();
  const live = makeAlert(1);
  const archived = makeAlert(2);
  commitAlert(live, 0, 0);
  archive.rows.push({ alert: archived, partition: 1, offset: 0 });
  const post = (id: string, payload: unknown, headers: Record<string, string> = BEARER.analyst) =>
    app.inject({
      method: 'POST',
      url: `/api/alerts/${id}/labels`,
      headers: { ...headers, ...JSON_HEADERS },
      payload: payload as object,
    });

  const r = await post(live.alertId, { label: 'confirmed_fraud', note: 'chargeback received' });
  assert.equal(r.statusCode, 201);
  assert.deepEqual(r.json(), {
    alertId: live.alertId,
    label: 'confirmed_fraud',
    note: 'chargeback received',
    author: 'ana',
    labelledAt: NOW,
  });
  assert.equal(
    (await post(archived.alertId, { label: 'needs_review' })).statusCode,
    201,
    'an archived alert',
  );
  assert.equal(
    (await post(live.alertId, { label: 'false_positive' }, BEARER.admin)).statusCode,
    201,
    'admins label',
  );

  const viewer = await post(live.alertId, { label: 'false_positive' }, BEARER.viewer);
  assert.equal(viewer.statusCode, 403);
  assert.equal(viewer.json<{ error: string }>().error, 'forbidden');
  const unknown = await post('no-such-alert', { label: 'false_positive' });
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.json<{ message: string }>().message, /no-such-alert/);
  for (const bad of [
    { label: 'fraud' },
    {},
    { label: 'false_positive', note: 'x'.repeat(2001) },
    { label: 'false_positive', extra: 1 },
  ]) {
    const res = await post(live.alertId, bad);
    assert.equal(res.statusCode, 400, JSON.stringify(bad).slice(0, 80));
    const body = res.json<{ error: string; message: string }>();
    assert.equal(body.error, 'bad_request');
    assert.ok(body.message.length > 0);
  }
  const text = await app.inject({
    method: 'POST',
    url: `/api/alerts/${live.alertId}/labels`,
    headers: { ...BEARER.analyst, 'content-type': 'text/plain' },
    payload: 'false_positive',
  });
  assert.equal(text.statusCode, 415);
  assert.equal(labels.published.length, 3, 'nothing refused was published');
  // The same millisecond: the label read later is the one in force.
  assert.deepEqual(
    feed.labels.of(live.alertId).map((l) => [l.label, l.author]),
    [
      ['false_positive', 'adam'],
      ['confirmed_fraud', 'ana'],
    ],
  );
});

test('a page of alerts: archive plus what the feed read past the archive, newest first, with labels and a cursor', async () => {
  const { app, commitAlert, archive } = await buildTestDesk({ alertPartitions: 2 });
  const all = Array.from({ length: 10 }, (_, i) => makeAlert(i));
  // Partition 0 holds the even alerts, partition 1 the odd ones; the archive has the first 3 of each.
  all.forEach((a, i) => {
    const partition = i % 2;
    const offset = Math.floor(i / 2) * 2; // transaction markers take the odd offsets
    commitAlert(a, partition, offset);
    if (offset < 6) archive.rows.push({ alert: a, partition, offset });
  });
  await app.inject({
    method: 'POST',
    url: `/api/alerts/${all[9]!.alertId}/labels`,
    headers: { ...BEARER.analyst, ...JSON_HEADERS },
    payload: { label: 'confirmed_fraud' },
  });
  const res = await app.inject({ url: '/api/alerts', headers: BEARER.viewer });
  assert.equal(res.statusCode, 200);
  const page = res.json<AlertsPage>();
  assert.deepEqual(
    page.alerts.map((a) => a.alertId),
    [...all].reverse().map((a) => a.alertId),
    'every alert once, newest first',
  );
  assert.equal(page.alerts[0]!.labels[0]!.label, 'confirmed_fraud');
  assert.deepEqual(page.alerts[1]!.labels, []);
  assert.equal(page.cursor, '9,9~1', 'the cursor is after everything the page holds');

  const only = async (q: string) =>
    (await app.inject({ url: `/api/alerts?${q}`, headers: BEARER.viewer }))
      .json<AlertsPage>()
      .alerts.map((a) => a.tradeEventId);
  assert.deepEqual(await only('limit=2'), ['trade-9', 'trade-8']);
  assert.deepEqual(await only('gameServerId=us-1&minAmount=1005'), ['trade-9', 'trade-7', 'trade-5']);
  assert.deepEqual(await only('maxAmount=1001'), ['trade-1', 'trade-0']);
  assert.deepEqual(await only('userId=user-3'), ['trade-3']);
  assert.deepEqual(await only('label=confirmed_fraud'), ['trade-9']);
  assert.equal((await only('label=unlabelled')).length, 9);
  assert.deepEqual(await only('label=false_positive'), []);
  for (const q of [
    'limit=0',
    'limit=1001',
    'limit=abc',
    'minAmount=-1',
    'label=bogus',
    'userId=a%00b',
    'limit=1&limit=2',
  ]) {
    const r = await app.inject({ url: `/api/alerts?${q}`, headers: BEARER.viewer });
    assert.equal(r.statusCode, 400, q);
    assert.equal(r.json<{ error: string }>().error, 'bad_request');
  }
});

test('the archive being down is a 503 with Retry-After, not a half answer', async () => {
  const { app, archive } = await buildTestDesk();
  archive.failing = true;
  const res = await app.inject({ url: '/api/alerts', headers: BEARER.viewer });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '1');
  assert.equal(res.json<{ error: string }>().error, 'unavailable');
});

test('the stream continues a page exactly and resumes from Last-Event-ID with nothing missed or repeated', async (t) => {
  const desk = await buildTestDesk({ alertPartitions: 2 });
  const { app, commitAlert } = desk;
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const alerts = Array.from({ length: 30 }, (_, i) => makeAlert(i));
  const offsets = [0, 0];
  const commit = (i: number) => {
    const p = i % 2;
    commitAlert(alerts[i]!, p, offsets[p]!);
    // Partition 1 is transactional-looking (a marker after each record), partition 0 dense.
    offsets[p]! += p === 0 ? 1 : 2;
  };
  for (let i = 0; i < 5; i++) commit(i);
  const page = (await (await fetch(`${base}/api/alerts`, { headers: BEARER.viewer })).json()) as AlertsPage;
  assert.equal(page.alerts.length, 5);

  const seen: string[] = page.alerts.map((a) => a.alertId);
  const read = async (headers: Record<string, string>, url: string, n: number) => {
    const ac = new AbortController();
    const res = await fetch(url, { headers, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    let last: string | undefined;
    const got: string[] = [];
    for await (const ev of sseEvents(res)) {
      assert.equal(ev.event, 'alert');
      got.push((JSON.parse(ev.data) as DeskAlert).alertId);
      last = ev.id;
      if (got.length === n) break;
    }
    ac.abort();
    return { got, last: last! };
  };
  const first = read(
    BEARER.viewer,
    `${base}/api/alerts/stream?cursor=${encodeURIComponent(page.cursor)}`,
    10,
  );
  for (let i = 5; i < 15; i++) commit(i);
  const a = await first;
  seen.push(...a.got);
  // Committed while the browser was away.
  for (let i = 15; i < 25; i++) commit(i);
  const second = read(
    { ...BEARER.viewer, 'last-event-id': a.last },
    `${base}/api/alerts/stream?cursor=${encodeURIComponent(page.cursor)}`,
    15,
  );
  for (let i = 25; i < 30; i++) commit(i);
  seen.push(...(await second).got);
  assert.deepEqual([...seen].sort(), alerts.map((x) => x.alertId).sort(), 'every alert exactly once');
  assert.equal(new Set(seen).size, 30);

  const bad = await fetch(`${base}/api/alerts/stream?cursor=garbage`, { headers: BEARER.viewer });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: string }).error, 'invalid_cursor');
});

test('a cursor older than what the desk holds gets a reset event, not a silent gap', async (t) => {
  const { app, commitAlert } = await buildTestDesk({ alertPartitions: 1, capacity: 5 });
  for (let i = 0; i < 12; i++) commitAlert(makeAlert(i), 0, i);
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const res = await fetch(`${base}/api/alerts/stream?cursor=3~0`, { headers: BEARER.viewer });
  const events = [];
  for await (const ev of sseEvents(res)) events.push(ev.event);
  assert.deepEqual(events, ['reset']);
  const fine = await fetch(`${base}/api/alerts/stream?cursor=8~0`, { headers: BEARER.viewer });
  const got: number[] = [];
  for await (const ev of sseEvents(fine)) {
    got.push(Number((JSON.parse(ev.data) as DeskAlert).tradeEventId.split('-')[1]));
    if (got.length === 4) break;
  }
  assert.deepEqual(got, [8, 9, 10, 11]);
});

test('a user: live state and owner from the locator, events and alerts from archive and feed', async () => {
  const { app, commitAlert, archive, states } = await buildTestDesk();
  const a1 = makeAlert(7, { userId: 'u-42' });
  const a2 = makeAlert(8, { userId: 'u-42' });
  archive.rows.push({ alert: a1, partition: 0, offset: 0 });
  commitAlert(a1, 0, 0);
  commitAlert(a2, 0, 2);
  archive.events.push({
    userId: 'u-42',
    eventId: 'e1',
    type: 'login',
    ts: NOW - 5000,
    ip: '203.0.113.9',
    amount: null,
    currency: '',
    itemId: '',
    counterpartyId: '',
    gameServerId: 'eu-1',
    receivedAt: NOW - 4999,
  });
  const res = await app.inject({ url: '/api/users/u-42', headers: BEARER.viewer });
  assert.equal(res.statusCode, 200);
  const view = res.json<UserView>();
  assert.equal(view.userId, 'u-42');
  assert.deepEqual(view.state, states.answer.state);
  assert.deepEqual(view.owner, states.answer.owner);
  assert.deepEqual(
    view.events.map((e) => e.eventId),
    ['e1'],
  );
  assert.deepEqual(
    view.alerts.map((a) => a.alertId),
    [a2.alertId, a1.alertId],
    'once each, newest first',
  );
  states.answer = {
    state: null,
    owner: { partition: 2, instance: null, status: 'moving', message: 'rebalancing' },
  };
  const moving = (await app.inject({ url: '/api/users/u-42', headers: BEARER.viewer })).json<UserView>();
  assert.equal(moving.owner.status, 'moving');
  assert.equal(moving.state, null);
  const bad = await app.inject({ url: `/api/users/${'x'.repeat(129)}`, headers: BEARER.viewer });
  assert.equal(bad.statusCode, 400);
});

test('the overview: live rates, hourly alerts, top users and servers, precision from verdicts only', async () => {
  const { app, archive, commitAlert } = await buildTestDesk({ rates: [{ t: 100, events: 500, alerts: 2 }] });
  const alerts = Array.from({ length: 4 }, (_, i) => makeAlert(i));
  alerts.forEach((a, i) => {
    archive.rows.push({ alert: a, partition: 0, offset: i });
    commitAlert(a, 0, i);
  });
  const label = (i: number, l: string) =>
    app.inject({
      method: 'POST',
      url: `/api/alerts/${alerts[i]!.alertId}/labels`,
      headers: { ...BEARER.analyst, ...JSON_HEADERS },
      payload: { label: l },
    });
  const precision = async () =>
    (await app.inject({ url: '/api/overview', headers: BEARER.viewer })).json<Overview>().precision[0]!;
  assert.equal((await precision()).precision, null, 'no verdict yet');
  await label(0, 'confirmed_fraud');
  await label(1, 'false_positive');
  await label(2, 'needs_review');
  const p = await precision();
  assert.deepEqual(
    { ...p },
    { rule: 'large-trade-new-ip', alerts: 4, confirmed: 1, falsePositive: 1, needsReview: 1, precision: 0.5 },
  );
  const ov = (await app.inject({ url: '/api/overview', headers: BEARER.viewer })).json<Overview>();
  assert.deepEqual(ov.live, [{ t: 100, events: 500, alerts: 2 }]);
  assert.equal(
    ov.hourly.reduce((n, h) => n + h.alerts, 0),
    4,
  );
  assert.deepEqual(ov.topGameServers, [
    { gameServerId: 'eu-1', alerts: 2 },
    { gameServerId: 'us-1', alerts: 2 },
  ]);
  assert.equal(ov.topUsers.length, 4);
});
