// End to end: game-server requests to the gateway → game-events → processor → alerts, and both
// topics → sink → ClickHouse. Real Kafka, Redis and ClickHouse; every service a real process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAlert, RULE_ID, RULE_VERSION, type Alert } from '@tradewatch/shared/alerts';
import type { GameEvent } from '@tradewatch/shared/events';
import { TrafficGenerator } from '../services/simulator/src/traffic-generator.ts';
import { referenceAlerts } from './support/reference-rule.ts';
import {
  KEEP_TEST_DATA,
  freePort,
  clickhouse,
  clickhouseCommand,
  createTestTopology,
  deleteTestTopics,
  readTopicSettled,
  startService,
  testKafka,
  testPipeline,
  waitUntil,
  type RunningService,
} from './support/harness.ts';

const kafka = testKafka();
const pipeline = testPipeline('e2e');
const { id, database } = pipeline;
const TOKEN = 'e2e-secret-token';
const SANDBOX_TOKEN = 'e2e-sandbox-token';
const env = {
  ...pipeline.env,
  GATEWAY_TOKENS: `gs-eu-1:${TOKEN},gs-eu-1:sandbox:${SANDBOX_TOKEN}`,
  GATEWAY_RATE_LIMIT_EVENTS_PER_SEC: '1000000',
};
const services: RunningService[] = [];
let gateway = '';

before(async () => {
  await createTestTopology(
    kafka,
    { events: env.EVENTS_TOPIC, alerts: env.ALERTS_TOPIC },
    { eventsPartitions: 3 },
  );
  const port = await freePort();
  gateway = `http://127.0.0.1:${port}`;
  services.push(
    startService('gateway', { ...env, GATEWAY_PORT: String(port) }),
    startService('processor', env),
    startService('sink', env),
  );
  await waitUntil('the gateway to be ready', async () => (await fetch(`${gateway}/readyz`)).ok, 60000);
});

after(async () => {
  await Promise.all(services.map((s) => s.stop()));
  if (KEEP_TEST_DATA) return; // to look at topics and tables after a failure
  await deleteTestTopics(kafka, pipeline.allTopics);
  await clickhouseCommand(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
});

type Body = Record<string, unknown>;
const post = async (events: Body[], token = TOKEN) => {
  const res = await fetch(`${gateway}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ events }),
  });
  return { status: res.status, body: (await res.json()) as { accepted: number; duplicates: number } };
};

interface EventStatus {
  sandbox: boolean;
  accepted: { partition: number; offset: number };
  processed: {
    state: string;
    committedOffset?: number | null;
    flagged?: boolean | null;
    alertId?: string | null;
  };
  archived: { state: string };
}
const status = async (eventId: unknown, token = TOKEN): Promise<EventStatus> => {
  const res = await fetch(`${gateway}/v1/events/${String(eventId)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200, `status of ${String(eventId)}`);
  return (await res.json()) as EventStatus;
};

/**
 * An accepted event as the contract describes it on the topic: `ts` as epoch ms (an RFC 3339
 * string is converted), IPv6 in lower case, an IPv4-mapped IPv6 address as its IPv4 address, and
 * the game server's id. Written for the forms this test posts; independent of the gateway's code.
 */
const asNormalised = (raw: Body): GameEvent => {
  const ts = typeof raw.ts === 'string' ? Date.parse(raw.ts) : (raw.ts as number);
  let ip = raw.ip as string | undefined;
  if (ip !== undefined) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    ip = mapped !== null ? mapped[1]! : ip.toLowerCase();
  }
  return {
    ...raw,
    ts,
    ...(ip === undefined ? {} : { ip }),
    gameServerId: 'gs-eu-1',
    receivedAt: 0,
  } as GameEvent;
};

let n = 0;
const T0 = Date.now() - 60_000;
const ev = (userId: string, fields: Body): Body => ({
  eventId: `${id}-${n++}`,
  userId,
  ts: new Date(T0 + n).toISOString(),
  ...fields,
});
const login = (u: string, ip: string) => ev(u, { type: 'login', ip });
const trade = (u: string, amount: number) => ev(u, { type: 'trade', amount });
const trades = (u: string, ...amounts: number[]) => amounts.map((a) => trade(u, a));

/** Named situations of docs/analysts.md, "The detection rule", each with the number of alerts it must raise. */
const scenario = (): { name: string; events: Body[]; alerts: number }[] => [
  {
    name: 'takeover',
    events: [
      login('ann', '10.0.0.1'),
      ...trades('ann', 10, 12, 9, 11, 10),
      login('ann', '203.0.113.9'),
      trade('ann', 500),
    ],
    alerts: 1,
  },
  {
    name: 'exactly at the threshold',
    events: [
      login('bob', '10.0.0.2'),
      ...trades('bob', 10, 10, 10, 10, 10),
      login('bob', '203.0.113.8'),
      trade('bob', 30),
    ],
    alerts: 0,
  },
  {
    name: 'even-count median',
    events: [
      login('cat', '10.0.0.3'),
      ...trades('cat', 40, 1, 30, 2, 20, 10),
      login('cat', '2001:DB8::7'),
      trade('cat', 45),
      trade('cat', 61),
    ],
    alerts: 1,
  },
  {
    name: 'fewer than 5 trades',
    events: [
      login('dan', '10.0.0.4'),
      ...trades('dan', 5, 5, 5, 5),
      login('dan', '203.0.113.7'),
      trade('dan', 1000),
    ],
    alerts: 0,
  },
  {
    name: 'first login only',
    events: [...trades('eve', 5, 5, 5, 5, 5), login('eve', '203.0.113.6'), trade('eve', 1000)],
    alerts: 0,
  },
  {
    // How dual-stack sockets report IPv4 clients: the same IP as 203.0.113.10, not a new one.
    name: 'known IP through an IPv4-mapped IPv6 address',
    events: [
      login('gus', '203.0.113.10'),
      ...trades('gus', 5, 5, 5, 5, 5),
      login('gus', '::ffff:203.0.113.10'),
      trade('gus', 1000),
    ],
    alerts: 0,
  },
  {
    name: 'known IP',
    events: [
      login('fay', '10.0.0.5'),
      login('fay', '10.0.0.6'),
      login('fay', '10.0.0.5'),
      ...trades('fay', 5, 5, 5, 5, 5),
      trade('fay', 1000),
    ],
    alerts: 0,
  },
];

test('a scenario posted to the gateway yields exactly the expected alerts and archive', async () => {
  const cases = scenario();
  const posted: Body[] = [];
  for (const c of cases) {
    const r = await post(c.events);
    assert.deepEqual(r, { status: 202, body: { accepted: c.events.length, duplicates: 0 } }, c.name);
    posted.push(...c.events);
  }
  // A game server retrying a request it got no answer for: nothing is published twice.
  const retry = await post(cases[0]!.events);
  assert.deepEqual(retry.body, { accepted: 0, duplicates: cases[0]!.events.length });

  // The same takeover through a sandbox token: answered like the live one, never detected or archived.
  const sandboxed = cases[0]!.events.map((e) => ({
    ...e,
    eventId: `${String(e.eventId)}-sbx`,
    userId: 'sandy',
  }));
  assert.deepEqual(await post(sandboxed, SANDBOX_TOKEN), {
    status: 202,
    body: { accepted: sandboxed.length, duplicates: 0 },
  });

  // Background traffic from the simulator's generator, in batches of 200.
  const gen = new TrafficGenerator({ users: 200, seed: 3, takeoverRate: 0.05, runId: `${id}-sim` });
  for (let b = 0; b < 15; b++) {
    const batch = Array.from({ length: 200 }, () => gen.next(T0 + b)) as unknown as Body[];
    assert.deepEqual(await post(batch), { status: 202, body: { accepted: 200, duplicates: 0 } });
    posted.push(...batch);
  }

  // What the pipeline must produce, from the rule applied to the accepted events in order. The
  // events are normalised here as the contract says, not by the gateway's own validator, so
  // that a normalisation bug cannot be on both sides.
  const accepted = posted.map(asNormalised);
  const tsOf = new Map(accepted.map((e) => [e.eventId, e.ts]));
  const expected = referenceAlerts(accepted).map((a) => ({
    ...a,
    rule: RULE_ID,
    ruleVersion: RULE_VERSION,
    tradeTs: tsOf.get(a.tradeEventId)!,
    factor: a.amount / a.baseline,
    gameServerId: 'gs-eu-1',
  }));
  const namedAlerts = cases.reduce((s, c) => s + c.alerts, 0);
  const named = new Set(cases.flatMap((c) => c.events.map((e) => e.eventId)));
  assert.equal(
    expected.filter((a) => named.has(a.tradeEventId)).length,
    namedAlerts,
    'the reference agrees with the named cases',
  );

  const messages = await readTopicSettled(kafka, env.ALERTS_TOPIC, expected.length, 3000, 90000);
  const alerts: Alert[] = messages.map((m) => decodeAlert(m.value!));
  // Every field of every alert (detectedAt is the processor's clock).
  const byId = (a: { alertId: string }, b: { alertId: string }) => a.alertId.localeCompare(b.alertId);
  assert.deepEqual(
    alerts.map(({ detectedAt: _, ...rest }) => rest).sort(byId),
    [...expected].sort(byId),
    'alerts on the topic',
  );
  const ann = alerts.find((a) => a.userId === 'ann')!;
  assert.deepEqual(
    { ...ann, alertId: undefined, detectedAt: undefined, tradeTs: undefined },
    {
      alertId: undefined,
      rule: 'large-trade-new-ip',
      ruleVersion: 1,
      userId: 'ann',
      tradeEventId: cases[0]!.events.at(-1)!.eventId,
      tradeTs: undefined,
      amount: 500,
      baseline: 10,
      factor: 50,
      ip: '203.0.113.9',
      knownIps: ['10.0.0.1'],
      previousTrades: 5,
      gameServerId: 'gs-eu-1',
      detectedAt: undefined,
    },
  );
  assert.equal(alerts.find((a) => a.userId === 'cat')!.ip, '2001:db8::7');

  // The archive: one row per accepted eventId and per alert, after deduplication.
  const distinctEvents = new Set(accepted.map((e) => e.eventId)).size;
  await waitUntil(
    'ClickHouse to hold every event and alert',
    async () => {
      const [e] = await clickhouse<{ c: string }>(`SELECT count() AS c FROM ${database}.events FINAL`);
      const [a] = await clickhouse<{ c: string }>(`SELECT count() AS c FROM ${database}.alerts FINAL`);
      return Number(e!.c) === distinctEvents && Number(a!.c) === expected.length;
    },
    90000,
    500,
  );
  const archivedAlerts = await clickhouse<Record<string, unknown>>(
    `SELECT alertId, userId, tradeEventId, toString(amountMicros) AS amountMicros,
            toString(baselineMicros) AS baselineMicros, ip, knownIps, previousTrades, gameServerId
       FROM ${database}.alerts FINAL ORDER BY alertId`,
  );
  const micros = (x: number) => String(Math.round(x * 1e6));
  assert.deepEqual(
    archivedAlerts,
    [...expected].sort(byId).map((a) => ({
      alertId: a.alertId,
      userId: a.userId,
      tradeEventId: a.tradeEventId,
      amountMicros: micros(a.amount),
      baselineMicros: micros(a.baseline),
      ip: a.ip,
      knownIps: a.knownIps,
      previousTrades: a.previousTrades,
      gameServerId: a.gameServerId,
    })),
    'archived alerts',
  );
  const [row] = await clickhouse<Record<string, unknown>>(
    `SELECT userId, type, gameServerId FROM ${database}.events FINAL WHERE eventId = '${String(cases[0]!.events.at(-1)!.eventId)}'`,
  );
  assert.deepEqual(row, { userId: 'ann', type: 'trade', gameServerId: 'gs-eu-1' });
  const [dups] = await clickhouse<{ c: string }>(
    `SELECT count() AS c FROM (SELECT eventId FROM ${database}.events FINAL GROUP BY eventId HAVING count() > 1)`,
  );
  assert.equal(Number(dups!.c), 0);

  // Sandbox events: neither an alert nor a row, and their status says so.
  assert.equal(alerts.filter((a) => a.userId === 'sandy').length, 0, 'no alert from sandbox events');
  const [sandyRows] = await clickhouse<{ c: string }>(
    `SELECT count() AS c FROM ${database}.events WHERE userId = 'sandy'`,
  );
  assert.equal(Number(sandyRows!.c), 0, 'no archived row from sandbox events');
  const sandboxStatus = await status(sandboxed.at(-1)!.eventId, SANDBOX_TOKEN);
  assert.equal(sandboxStatus.sandbox, true);
  assert.deepEqual([sandboxStatus.processed.state, sandboxStatus.archived.state], ['skipped', 'skipped']);

  // Where is my event: the flagged trade names its alert; a trade below the threshold is not
  // flagged once the alert archive has caught up; a login is never flagged.
  const annTrade = await status(cases[0]!.events.at(-1)!.eventId);
  const { committedOffset, ...flagged } = annTrade.processed;
  assert.deepEqual(flagged, { state: 'done', flagged: true, alertId: ann.alertId });
  assert.ok((committedOffset ?? -1) > annTrade.accepted.offset);
  assert.equal(annTrade.archived.state, 'done');
  const bobTrade = cases[1]!.events.at(-1)!.eventId;
  const notFlagged = await waitUntil(
    'the status of a trade below the threshold to say not flagged',
    async () => {
      const s = await status(bobTrade);
      return s.processed.flagged === false ? s : undefined;
    },
    30000,
  );
  assert.deepEqual(
    [notFlagged.processed.state, notFlagged.processed.alertId, notFlagged.archived.state],
    ['done', null, 'done'],
  );
  const gusLogin = await status(cases.find((c) => c.name.includes('IPv4-mapped'))!.events.at(-2)!.eventId);
  assert.deepEqual([gusLogin.processed.state, gusLogin.processed.flagged], ['done', false]);
});
