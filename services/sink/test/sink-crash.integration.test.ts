// The sink as its own process (node services/sink/src/main.ts), killed with SIGKILL in the middle
// of archiving and started again: the archive still holds every event, alert and label exactly
// once, and each alert its Kafka coordinates. Then SIGTERM: the second process flushes, commits
// and exits 0.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import {
  alertMessage,
  assertAlertCoordinates,
  cleanUp,
  countRows,
  createSinkTopics,
  eventMessage,
  labelMessage,
  makeAlert,
  makeEvents,
  makeLabels,
  produceTransactional,
  readTopic,
  sinkEnv,
  type TestNames,
  uniqueNames,
} from './fixtures.ts';
import { produce, testClickHouse, testKafka, testLogger, waitUntil } from '../../../test/support/harness.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const log = testLogger('sink-crash-it');
const kafka = testKafka({ logger: log });
const client = testClickHouse();
let admin: KafkaAdmin;

before(() => {
  admin = kafka.admin();
});
after(async () => {
  await admin.close();
  await client.close();
});

interface SinkProcess {
  child: ChildProcess;
  output: () => string;
}

const spawnSink = (n: TestNames): SinkProcess => {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      ...sinkEnv(n, { SINK_BATCH_MAX_ROWS: '5000', SINK_BATCH_MAX_WAIT_MS: '300', LOG_LEVEL: 'info' }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => out };
};

const exited = async (p: SinkProcess): Promise<number | string | null> => {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode ?? p.child.signalCode;
  const [code, signal] = (await once(p.child, 'exit')) as [number | null, string | null];
  return code ?? signal;
};

test('SIGKILL mid-batch and a restart: still every row exactly once', async () => {
  const n = uniqueNames('crash');
  await createSinkTopics(kafka, n, { events: 4, alerts: 2 });
  let sink: SinkProcess | undefined;
  try {
    const events = makeEvents(120000, { prefix: n.suffix, users: 2000 });
    const alerts = Array.from({ length: 300 }, (_, i) => makeAlert(i));
    await produce(kafka, n.eventsTopic, events.map(eventMessage), 5000);
    await produceTransactional(kafka, n.alertsTopic, alerts.map(alertMessage), {
      transactionalId: `${n.suffix}-a`,
    });
    // 12,000 label records: verdicts on 6,000 (made-up) alerts, some changed.
    const labels = makeLabels(Array.from({ length: 6000 }, (_, i) => makeAlert(1000 + i).alertId));
    await produce(kafka, n.labelsTopic, labels.map(labelMessage), 5000);

    sink = spawnSink(n);
    const first = sink;
    // Kill while archiving is under way: some rows in, not all.
    const atKill = await waitUntil(
      'the first sink to be part-way through',
      async () => {
        const v = await (() => countRows(client, n.database, 'events'))();
        return ((c) => c.raw > 0 && c.final < events.length)(v) ? v : undefined;
      },
      60000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- sink output ---\n${first.output()}`);
    });
    first.child.kill('SIGKILL');
    assert.equal(await exited(first), 'SIGKILL');
    assert.ok(atKill.final < events.length, `killed after ${atKill.final} of ${events.length}`);

    sink = spawnSink(n);
    const second = sink;
    const done = await waitUntil(
      'every row archived after the restart',
      async () => {
        const v = await (async () => ({
          events: await countRows(client, n.database, 'events'),
          alerts: await countRows(client, n.database, 'alerts'),
          labels: await countRows(client, n.database, 'alert_labels'),
        }))();
        return ((c) =>
          c.events.final === events.length &&
          c.alerts.final === alerts.length &&
          c.labels.final === labels.length)(v)
          ? v
          : undefined;
      },
      120000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- sink output ---\n${second.output()}`);
    });
    assert.ok(done.events.raw >= events.length);
    assert.ok(done.labels.raw >= labels.length);
    await assertAlertCoordinates(client, n.database, await readTopic(kafka, n.alertsTopic, alerts.length));
    log.info({ atKill, done }, 'crash test counts');

    second.child.kill('SIGTERM');
    assert.equal(await exited(second), 0, second.output());
    assert.match(second.output(), /"msg":"stopped"/);
    sink = undefined;
    // Still exact after the graceful stop (background merges may only lower the raw count).
    assert.equal((await countRows(client, n.database, 'events')).final, events.length);
    assert.equal((await countRows(client, n.database, 'alert_labels')).final, labels.length);
  } finally {
    if (sink !== undefined && sink.child.exitCode === null && sink.child.signalCode === null) {
      sink.child.kill('SIGKILL');
      await exited(sink);
    }
    await cleanUp(admin, client, n);
  }
});
