// The fraud desk end to end in a real browser (Debian's Chromium through playwright-core):
// takeovers posted to the gateway travel through the processors and the sink to the desk's page.
// Real Kafka, Redis and ClickHouse; every service a real process on topics, groups and a database
// of this file's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { decodeAlert } from '@tradewatch/shared/alerts';
import { ROOT, clickhouse, readTopicUntil, waitUntil } from './support/harness.ts';
import {
  launchChromium,
  startCuttableProxy,
  startDeskPipeline,
  takeover,
  watchAlerts,
  type DeskPipeline,
  type DeskUserCredentials,
  type ForwardedRequest,
} from './support/desk-pipeline.ts';

let browser: Browser;
let desk: DeskPipeline;

before(async () => {
  // The desk serves its built UI; bootstrap builds it when its sources are newer.
  execFileSync('bash', ['scripts/bootstrap.sh'], { cwd: ROOT, stdio: 'inherit' });
  browser = await launchChromium();
  desk = await startDeskPipeline({ processors: 2 });
});

after(async () => {
  await browser?.close();
  await desk?.stop();
});

const row = (page: Page, alertId: string) =>
  page.locator(`[data-testid="alert-row"][data-alert-id="${alertId}"]`);
const text = async (page: Page, testId: string) => (await page.getByTestId(testId).textContent()) ?? '';
const feedStatus = (page: Page) => text(page, 'feed-status');

const signIn = async (page: Page, user: DeskUserCredentials) => {
  await page.goto('/');
  await page.getByTestId('signin-name').fill(user.name);
  await page.getByTestId('signin-token').fill(user.token);
  await page.getByTestId('signin-submit').click();
  await waitUntil(`the feed of ${user.name} to be live`, async () =>
    (await feedStatus(page)).startsWith('live'),
  );
};

/** Every alert id the page's feed holds (rendered or not). */
const deskAlertIds = (page: Page) =>
  page.evaluate(() => {
    const w = globalThis as unknown as { __deskAlertIds?: () => string[] };
    if (w.__deskAlertIds === undefined) throw new Error('the page has no feed');
    return w.__deskAlertIds();
  });

const waitForPanelOf = (page: Page, userId: string) =>
  page.locator(`[data-testid="user-panel"][aria-label="user ${userId}"]`).waitFor({ timeout: 30000 });

test(
  'an analyst sees a takeover arrive live, reads why it was flagged and labels it; a viewer cannot label',
  {
    timeout: 120000,
  },
  async () => {
    // Checks: a signed-in analyst's feed shows a new alert without a reload; its user panel shows
    // the live state that explains it (session IP, the past sessions' IPs, the median), served by the
    // processor that owns the user; a label given in the UI shows on the row, reaches the archive
    // with the analyst as author, and moves the rule's precision (100 % -> 50 %); a viewer sees no
    // label buttons and the API refuses them a label (403) even with a valid session and CSRF token.
    const context = await browser.newContext({ baseURL: desk.dashboardUrl });
    try {
      const page = await context.newPage();
      const historyReads: string[] = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/api/alerts') historyReads.push(r.url());
      });
      await signIn(page, desk.users.analyst);

      const run = `${desk.id}-t1`;
      // 10.20.0.1 twice: the state lists sessions, so the IP appears twice among the known ones.
      const stolen = takeover(run, `${run}-mallory`, {
        homeIps: ['10.20.0.1', '10.20.0.2', '10.20.0.1'],
        trades: [20, 25, 18, 30, 22, 19],
        newIp: '203.0.113.77',
        amount: 400,
      });
      const other = takeover(run, `${run}-oscar`, {
        homeIps: ['10.30.0.1'],
        trades: [5, 6, 5, 7, 5],
        newIp: '198.51.100.20',
        amount: 90,
      });
      // Worked out by hand: median of 18,19,20,22,25,30 is 21; with 400 added, 22.
      assert.deepEqual([stolen.baseline, stolen.stateMedian], [21, 22]);
      await desk.post([...other.events, ...stolen.events]);

      const onTopic = await readTopicUntil(desk.kafka, desk.env.ALERTS_TOPIC!, (m) => {
        const ids = new Set(m.map((x) => decodeAlert(x.value!).alertId));
        return ids.has(stolen.alertId) && ids.has(other.alertId);
      });
      const alert = onTopic.map((m) => decodeAlert(m.value!)).find((a) => a.alertId === stolen.alertId)!;
      assert.deepEqual(
        {
          ip: alert.ip,
          baseline: alert.baseline,
          knownIps: alert.knownIps,
          previousTrades: alert.previousTrades,
        },
        { ip: '203.0.113.77', baseline: 21, knownIps: ['10.20.0.1', '10.20.0.2'], previousTrades: 6 },
      );

      await row(page, stolen.alertId).waitFor({ timeout: 30000 });
      await row(page, other.alertId).waitFor({ timeout: 30000 });
      assert.equal(historyReads.length, 1, 'the alerts came by the stream, not by reading the history again');
      assert.match((await row(page, stolen.alertId).textContent()) ?? '', /400 vs median 21/);

      const precision = () => text(page, 'precision-large-trade-new-ip');
      await waitUntil('the precision card to count the archived alerts', async () =>
        (await precision()).includes('no verdict yet'),
      );

      // A first verdict, so that the second one visibly changes the precision.
      await row(page, other.alertId).click();
      await waitForPanelOf(page, other.userId);
      await page.getByTestId('label-confirmed_fraud').click();
      await waitUntil(
        'the confirmed label on its row',
        async () => (await row(page, other.alertId).getAttribute('data-label')) === 'confirmed_fraud',
      );
      await waitUntil('precision 100 %', async () =>
        (await precision()).startsWith('precision 100.0 % (1 confirmed / 1 with a verdict)'),
      );

      await row(page, stolen.alertId).click();
      await waitForPanelOf(page, stolen.userId);
      // The panel asks again by itself while the user's partition is moving or restoring.
      await waitUntil(
        'the owner to be running',
        async () => (await text(page, 'owner-status')) === 'running',
      );
      assert.equal(await text(page, 'session-ip'), '203.0.113.77');
      assert.deepEqual(await page.getByTestId('known-ip').allTextContents(), [
        '10.20.0.1',
        '10.20.0.2',
        '10.20.0.1',
      ]);
      assert.equal(await text(page, 'state-median'), '22');
      await page
        .getByText('the median of 21 over the 6 trades before it', { exact: false })
        .waitFor({ timeout: 5000 });
      // The state shown is the owning processor's own answer.
      const owner = await desk.ownerOf(stolen.userId);
      const res = await fetch(`${owner.endpoint}/v1/users/${encodeURIComponent(stolen.userId)}/state`);
      assert.equal(res.status, 200);
      const direct = (await res.json()) as { instance: string; state: Record<string, unknown> };
      assert.deepEqual(direct.state, {
        sessionIp: stolen.sessionIp,
        knownIps: stolen.pastSessionIps,
        trades: [20, 25, 18, 30, 22, 19, 400],
        median: stolen.stateMedian,
      });
      assert.deepEqual(
        await page.locator('[data-testid="user-panel"] section[aria-label="owner"] strong').allTextContents(),
        [String(owner.partition), owner.instance],
        'the panel names the owning partition and instance',
      );

      const note = `known player, new ISP (${run})`;
      await page.getByTestId('label-note').fill(note);
      await page.getByTestId('label-false_positive').click();
      await waitUntil(
        'the false-positive label on its row',
        async () => (await row(page, stolen.alertId).getAttribute('data-label')) === 'false_positive',
      );
      const archived = await waitUntil(
        'the label in the archive',
        async () => {
          const rows = await clickhouse<Record<string, string>>(
            `SELECT toString(label) AS label, note, author FROM ${desk.database}.alert_labels FINAL WHERE alertId = '${stolen.alertId}'`,
          );
          return rows.length > 0 ? rows : null;
        },
        30000,
        500,
      );
      assert.deepEqual(archived, [{ label: 'false_positive', note, author: desk.users.analyst.name }]);
      await waitUntil('precision 50 %', async () =>
        (await precision()).startsWith('precision 50.0 % (1 confirmed / 2 with a verdict)'),
      );

      // A viewer, in a browser of their own.
      const viewerContext = await browser.newContext({ baseURL: desk.dashboardUrl });
      try {
        const viewer = await viewerContext.newPage();
        await signIn(viewer, desk.users.viewer);
        await row(viewer, stolen.alertId).waitFor({ timeout: 30000 });
        assert.equal(await row(viewer, stolen.alertId).getAttribute('data-label'), 'false_positive');
        await row(viewer, stolen.alertId).click();
        await waitForPanelOf(viewer, stolen.userId);
        await viewer.getByText('Viewers can read labels').waitFor({ timeout: 10000 });
        for (const id of [
          'label-confirmed_fraud',
          'label-false_positive',
          'label-needs_review',
          'label-note',
        ]) {
          assert.equal(await viewer.getByTestId(id).count(), 0, `${id} is not shown to a viewer`);
        }
        const refused = await viewer.evaluate(async (alertId) => {
          const session = (await (await fetch('/api/session')).json()) as { role: string; csrfToken: string };
          const r = await fetch(`/api/alerts/${alertId}/labels`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
            body: JSON.stringify({ label: 'confirmed_fraud', note: 'a viewer tries' }),
          });
          return { role: session.role, status: r.status, body: (await r.json()) as { error: string } };
        }, stolen.alertId);
        assert.deepEqual(
          { role: refused.role, status: refused.status, error: refused.body.error },
          { role: 'viewer', status: 403, error: 'forbidden' },
        );
      } finally {
        await viewerContext.close();
      }
    } finally {
      await context.close();
    }
  },
);

test(
  'the live feed resumes by itself after a cut connection and a desk restart, missing nothing and repeating nothing',
  {
    timeout: 150000,
  },
  async (t) => {
    // Checks: while takeovers keep flowing, (a) every connection between the browser and the desk is
    // cut at once and kept down until alerts have been committed meanwhile, and (b) the desk process
    // is SIGKILLed and started again on the same port while alerts are committed; each time the
    // page shows that it is not live, reconnects by itself with Last-Event-ID (never re-reading the
    // history), and is live again. At the end, with the pipeline idle, the page holds exactly the
    // alert ids on the alerts topic (read_committed), none twice.
    const proxy = await startCuttableProxy(desk.dashboardPort);
    const watcher = await watchAlerts(desk.kafka, desk.env.ALERTS_TOPIC!);
    const context = await browser.newContext({ baseURL: proxy.url });
    const run = `${desk.id}-t2`;
    const expected = new Set<string>();
    let sending = true;
    try {
      const page = await context.newPage();
      // What the page's EventSource itself received: the page dedupes, so only this shows whether
      // the stream sent an alert twice.
      const streamed: string[] = [];
      const cdp = await context.newCDPSession(page);
      cdp.on('Network.eventSourceMessageReceived', (e) => {
        if (e.eventName === 'alert') streamed.push((JSON.parse(e.data) as { alertId: string }).alertId);
      });
      await cdp.send('Network.enable');
      await signIn(page, desk.users.analyst);

      let users = 0;
      const traffic = (async () => {
        while (sending) {
          const batch = Array.from({ length: 4 }, () => {
            const k = ++users;
            return takeover(run, `${run}-u${k}`, {
              homeIps: [`10.${k >> 8}.${k & 255}.1`, `10.${k >> 8}.${k & 255}.2`],
              trades: [10 + (k % 7), 12, 9, 11, 10],
              newIp: `203.0.${k >> 8}.${k & 255}`,
              amount: 1000 + k,
            });
          });
          await desk.post(batch.flatMap((b) => b.events));
          for (const b of batch) expected.add(b.alertId);
          await sleep(150); // pacing: ~25 alerts/s
        }
      })();
      traffic.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled

      const committedBetween = (from: number, to: number) =>
        watcher.alerts.filter((a) => a.producedAt > from && a.seenAt < to).length;
      const isStreamRequest = (r: ForwardedRequest) => r.path === '/api/alerts/stream';
      /** Waits until the page holds the first `n` alerts committed after `since`: the feed flows. */
      const pageReceives = async (what: string, since: number, n: number) =>
        waitUntil(
          what,
          async () => {
            const held = new Set(await deskAlertIds(page));
            const fresh = watcher.alerts.filter((a) => a.producedAt > since).slice(0, n);
            return fresh.length === n && fresh.every((a) => held.has(a.alertId));
          },
          30000,
        );
      const reconnect = async (after: number) => {
        const r = await waitUntil('the stream to be opened again', () =>
          proxy.requests.find((r) => isStreamRequest(r) && r.at > after),
        );
        assert.ok(r.lastEventId, 'the browser resumed with Last-Event-ID');
        await waitUntil('the feed to be live again', async () => (await feedStatus(page)).startsWith('live'));
        return r;
      };
      const start = Date.now();
      await pageReceives('the page to receive the first alerts', start, 20);

      // (a) The connection is cut, mid-stream.
      const cutAt = Date.now();
      proxy.cut({ refuse: true });
      await waitUntil('the page to show it is not live', async () =>
        (await feedStatus(page)).startsWith('reconnecting'),
      );
      await waitUntil(
        'alerts to be committed while the browser is cut off',
        () => watcher.alerts.some((a) => a.producedAt > cutAt) && committedBetween(cutAt, Date.now()) >= 10,
      );
      proxy.resume();
      const afterCut = await reconnect(cutAt);
      const missedInCut = committedBetween(cutAt, afterCut.at);
      assert.ok(missedInCut >= 10, `${missedInCut} alerts committed between the cut and the reconnection`);
      await pageReceives('the page to receive alerts again after the cut', afterCut.at, 10);

      // (b) The desk crashes and comes back on the same port while alerts keep coming.
      const killAt = Date.now();
      await desk.killDashboard();
      await waitUntil('the page to show it is not live', async () =>
        (await feedStatus(page)).startsWith('reconnecting'),
      );
      await desk.startDashboard();
      const afterRestart = await reconnect(killAt);
      const missedInRestart = committedBetween(killAt, afterRestart.at);
      assert.ok(missedInRestart >= 10, `${missedInRestart} alerts committed while the desk was down`);
      await pageReceives('the page to receive alerts after the restart', afterRestart.at, 10);
      await waitUntil('150 takeovers to have been posted', () => expected.size >= 150, 60000);

      sending = false;
      await traffic;
      const messages = await readTopicUntil(
        desk.kafka,
        desk.env.ALERTS_TOPIC!,
        (m) => {
          const ids = new Set(m.map((x) => decodeAlert(x.value!).alertId));
          return [...expected].every((id) => ids.has(id));
        },
        { timeoutMs: 60000 },
      );
      const topicIds = messages.map((m) => decodeAlert(m.value!).alertId);
      assert.equal(new Set(topicIds).size, topicIds.length, 'each alert once on the topic');
      const onTopic = [...new Set(topicIds)].sort();
      // A missing alert never arrives: after the deadline the comparison below says which one.
      await waitUntil(
        'the page to hold every alert of the topic',
        async () => (await deskAlertIds(page)).length >= onTopic.length,
      ).catch(() => undefined);
      const held = await deskAlertIds(page);
      assert.equal(new Set(held).size, held.length, 'no alert twice on the page');
      assert.deepEqual(
        {
          missing: onTopic.filter((id) => !held.includes(id)),
          extra: held.filter((id) => !onTopic.includes(id)),
        },
        { missing: [], extra: [] },
      );
      assert.deepEqual([...held].sort(), onTopic);

      assert.equal(new Set(streamed).size, streamed.length, 'the stream sent no alert twice');
      assert.deepEqual(
        [...expected].filter((id) => !streamed.includes(id)),
        [],
        'every alert of the run came by the stream',
      );
      const streams = proxy.requests.filter(isStreamRequest);
      assert.equal(
        proxy.requests.filter((r) => r.path === '/api/alerts').length,
        1,
        'the history was read once: both resumptions came from Last-Event-ID',
      );
      t.diagnostic(
        `${expected.size} takeovers posted, ${onTopic.length} alerts on the topic, ${streamed.length} streamed; ` +
          `committed while cut off: ${missedInCut}, while the desk was down: ${missedInRestart}; ` +
          `stream requests: ${streams.length} (${streams.filter((r) => r.lastEventId).length} with Last-Event-ID)`,
      );
    } finally {
      sending = false;
      await context.close();
      await watcher.stop();
      await proxy.close();
    }
  },
);

test(
  'an admin writes a shadow version on the rules page, sees active vs shadow on the same trades, and backtests it',
  {
    timeout: 150000,
  },
  async () => {
    // Checks: the rules page lists the seed version; an invalid version is refused with the
    // problem shown and nothing written; a shadow version (factor 2) written from the form is
    // listed as in force beside the active seed; trades posted afterwards are flagged by both
    // (one of them by the shadow version only, on alerts.shadow and never on alerts), and the page
    // shows them side by side; a backtest from the form reports with its progress bar full.
    const context = await browser.newContext({ baseURL: desk.dashboardUrl });
    try {
      const page = await context.newPage();
      await signIn(page, desk.users.admin);
      await page.getByRole('button', { name: 'Rules' }).click();
      await page.getByTestId('version-large-trade-new-ip-1').waitFor({ timeout: 30000 });

      await page.getByTestId('rule-reason').fill('try a lower factor in shadow');
      await page.getByTestId('rule-params').fill('{"minTrades": 0, "amountFactor": 2}');
      await page.getByTestId('rule-save').click();
      await page.getByText(/\/params\/minTrades: expected an integer 1-20/).waitFor({ timeout: 10000 });
      assert.equal(await page.getByTestId('version-large-trade-new-ip-2').count(), 0, 'nothing written');

      await page.getByTestId('rule-params').fill('{"amountFactor": 2}');
      await page.getByTestId('rule-save').click();
      const v2 = page.getByTestId('version-large-trade-new-ip-2');
      await v2.waitFor({ timeout: 30000 });
      assert.match((await v2.textContent()) ?? '', /v2 shadow now.*shadow/);
      const [stored] = await waitUntil('the sink to archive version 2', async () => {
        const rows = await clickhouse<{ createdAtMs: string }>(
          `SELECT createdAtMs FROM ${desk.database}.rule_versions FINAL WHERE ruleId = 'large-trade-new-ip' AND version = 2`,
        );
        return rows.length > 0 ? rows : undefined;
      });
      // On time by the contract (docs/rules.md): processors know every version written more than
      // PROCESSOR_RULES_MAX_STALENESS_MS (1 s) before they apply an event.
      const writtenAt = Number(stored!.createdAtMs);
      await waitUntil('the version to be 2 s old', () => Date.now() > writtenAt + 2000);

      const run = `${desk.id}-rules`;
      const both = takeover(run, `${run}-bea`, {
        homeIps: ['10.40.0.1'],
        trades: [10, 10, 10, 10, 10],
        newIp: '203.0.113.40',
        amount: 40,
      });
      const shadowOnly = takeover(run, `${run}-sid`, {
        homeIps: ['10.41.0.1'],
        trades: [10, 10, 10, 10, 10],
        newIp: '203.0.113.41',
        amount: 40,
      });
      shadowOnly.events.at(-1)!.amount = 25; // 2.5 × the median: over the shadow's 2, under the seed's 3
      await desk.post([...both.events, ...shadowOnly.events]);

      const shadowAlerts = await readTopicUntil(desk.kafka, desk.env.SHADOW_ALERTS_TOPIC!, (m) => {
        const trades = new Set(m.map((x) => decodeAlert(x.value!).tradeEventId));
        return trades.has(both.tradeEventId) && trades.has(shadowOnly.tradeEventId);
      });
      assert.ok(shadowAlerts.map((m) => decodeAlert(m.value!)).every((a) => a.ruleVersion === 2));
      const active = (
        await readTopicUntil(desk.kafka, desk.env.ALERTS_TOPIC!, (m) =>
          m.some((x) => decodeAlert(x.value!).tradeEventId === both.tradeEventId),
        )
      ).map((m) => decodeAlert(m.value!));
      assert.deepEqual(
        active
          .filter((a) => a.tradeEventId === both.tradeEventId || a.tradeEventId === shadowOnly.tradeEventId)
          .map((a) => [a.tradeEventId, a.ruleVersion]),
        [[both.tradeEventId, 1]],
        'the shadow version never writes to alerts',
      );
      await waitUntil('the sink to archive the shadow alerts', async () => {
        const [r] = await clickhouse<{ n: string }>(
          `SELECT count() AS n FROM ${desk.database}.alerts_shadow FINAL WHERE tradeEventId IN ('${both.tradeEventId}', '${shadowOnly.tradeEventId}')`,
        );
        return Number(r!.n) === 2;
      });
      await waitUntil('the sink to archive the active alert', async () => {
        const [r] = await clickhouse<{ n: string }>(
          `SELECT count() AS n FROM ${desk.database}.alerts FINAL WHERE tradeEventId = '${both.tradeEventId}'`,
        );
        return Number(r!.n) === 1;
      });

      await page.getByRole('button', { name: 'Active vs shadow' }).click();
      const table = page.getByRole('table', { name: 'active vs shadow' });
      await table.waitFor({ timeout: 10000 });
      const rowOf = async (tradeEventId: string) =>
        ((await table.locator('tr', { hasText: tradeEventId }).textContent()) ?? '').replace(/\s+/g, ' ');
      assert.match(await rowOf(both.tradeEventId), /v1v2$/);
      assert.match(await rowOf(shadowOnly.tradeEventId), /—v2$/);

      // A backtest of the shadow's parameters over the last day: its progress bar ends full.
      await page.getByTestId('backtest-run').click();
      await page.getByTestId('backtest-report').waitFor({ timeout: 60000 });
      const progress = page.getByTestId('backtest-progress');
      assert.equal(await progress.getAttribute('value'), await progress.getAttribute('max'));
      const [onlyCandidate] = ((await page.getByTestId('backtest-diff').textContent()) ?? '')
        .split('/')
        .map(Number);
      assert.ok(onlyCandidate! >= 1, 'the trade only the lower factor flags is a difference');
    } finally {
      await context.close();
    }
  },
);
