// ClickHouse stopped in the middle of a run (longer than the consumer session timeout), records
// arriving meanwhile, then started again: the sink pauses, retries with backoff, keeps its
// partitions, and catches up with nothing lost and nothing doubled.
//
// This test stops the shared local ClickHouse (the pid in .data/run/clickhouse.pid) and starts it
// again with infra/infra.sh, always, even when it fails. Do not run it concurrently with other
// tests that use ClickHouse (the sink's `npm test` runs its files one at a time).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Admin } from '@tradewatch/shared/kafka';
import { loadSinkConfig } from '../src/config.ts';
import { startSink } from '../src/start-sink.ts';
import {
  alertMessage,
  cleanUp,
  countRows,
  createTestTopics,
  eventMessage,
  makeAlert,
  makeEvents,
  produce,
  produceTransactional,
  sinkEnv,
  testClickHouse,
  testKafka,
  testLogger,
  uniqueNames,
  waitFor,
} from './fixtures.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DATA_DIR = process.env.TRADEWATCH_DATA_DIR ?? `${REPO}.data`;
const PID_FILE = `${DATA_DIR}/run/clickhouse.pid`;
const INFRA = `${REPO}infra/infra.sh`;

const log = testLogger('sink-outage-it');
const kafka = testKafka(log);
const client = testClickHouse();
let admin: Admin;

before(async () => {
  admin = kafka.admin();
  await admin.connect();
});
after(async () => {
  await admin.disconnect();
  await client.close();
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const clickhousePid = (): number => {
  const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
  assert.ok(Number.isSafeInteger(pid) && pid > 1, `no ClickHouse pid in ${PID_FILE}`);
  return pid;
};

const startClickHouse = async (): Promise<void> => {
  await promisify(execFile)(INFRA, ['up', 'clickhouse'], { cwd: REPO, timeout: 120000 });
};

test('ClickHouse down for a while: the sink pauses, retries, and catches up exactly', async () => {
  const n = uniqueNames('outage');
  await createTestTopics(admin, n);
  const sink = await startSink(
    loadSinkConfig(
      sinkEnv(n, {
        SINK_SESSION_TIMEOUT_MS: '6000',
        SINK_HEARTBEAT_INTERVAL_MS: '1000',
        SINK_RETRY_MAX_MS: '2000',
      }),
    ),
    log,
  );
  let stoppedPid: number | undefined;
  try {
    const before = makeEvents(20000, { prefix: `${n.suffix}-a` });
    await produce(kafka, n.eventsTopic, before.map(eventMessage));
    await waitFor(
      'the first events archived',
      () => countRows(client, n.database, 'events'),
      (c) => c.final === before.length,
    );

    stoppedPid = clickhousePid();
    process.kill(stoppedPid, 'SIGTERM');
    await waitFor(
      'ClickHouse to stop',
      () => Promise.resolve(isAlive(stoppedPid!)),
      (alive) => !alive,
      60000,
    );

    const during = makeEvents(30000, { prefix: `${n.suffix}-b` });
    const alerts = Array.from({ length: 100 }, (_, i) => makeAlert(i));
    await produce(kafka, n.eventsTopic, during.map(eventMessage));
    await produceTransactional(kafka, n.alertsTopic, alerts.map(alertMessage), {
      transactionalId: `${n.suffix}-a`,
    });

    // Reported (paused, retrying) and held down past the session timeout: heartbeats must go on.
    await waitFor(
      'the sink to pause and retry',
      () =>
        Promise.resolve({
          paused: sink.isPaused(),
          retries: sink.stats.insertRetries,
          up: sink.stats.clickhouseAvailable,
        }),
      (s) => s.paused && !s.up && s.retries >= 3,
      30000,
    );
    await waitFor(
      'an outage longer than the session timeout',
      () => Promise.resolve(sink.stats.currentOutageMs(Date.now())),
      (ms) => ms > 8000,
      30000,
    );
    const retriesDuringOutage = sink.stats.insertRetries;

    await startClickHouse();
    stoppedPid = undefined;
    const total = before.length + during.length;
    const counts = await waitFor(
      'catching up after ClickHouse returned',
      async () => ({
        events: await countRows(client, n.database, 'events'),
        alerts: await countRows(client, n.database, 'alerts'),
      }),
      (c) => c.events.final === total && c.alerts.final === alerts.length,
      120000,
    );
    assert.ok(counts.events.raw >= total);
    assert.equal(sink.isPaused(), false);
    assert.equal(sink.stats.clickhouseAvailable, true);
    assert.equal(sink.stats.outages, 1);
    assert.ok(sink.stats.outageMsTotal > 8000);
    // Backoff, not a busy loop: a handful of retries per failing partition, not thousands.
    assert.ok(retriesDuringOutage < 200, `retries ${retriesDuringOutage}`);
    // The group kept its partitions through the outage: nothing was dropped for a rebalance.
    assert.equal(sink.stats.abandonedBatches, 0);
    log.info({ counts, stats: sink.stats }, 'outage test counts');
  } finally {
    if (stoppedPid !== undefined) await startClickHouse();
    await sink.stop();
    await cleanUp(admin, client, n);
  }
});
