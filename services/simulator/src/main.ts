// Composition root of the simulator: game servers posting generated traffic to the gateway at a
// steady rate, through the integrators' client (packages/client) as a real game server would —
// it batches, retries 429/503 and network errors with the same eventIds, and reports per event.
// SIGTERM (or the end of SIM_DURATION_SEC) flushes what is queued before exiting.
import { setTimeout as sleep } from 'node:timers/promises';
import { TradewatchClient, type EventOutcome, type GameEvent } from '@tradewatch/client';
import { createLogger } from '@tradewatch/shared/logger';
import { onShutdown } from '@tradewatch/shared/shutdown';
import { loadSimulatorConfig } from './config.ts';
import { TrafficGenerator } from './traffic-generator.ts';

const config = loadSimulatorConfig(process.env);
const log = createLogger('simulator', config.logLevel);
const generator = new TrafficGenerator({
  users: config.users,
  seed: config.seed,
  takeoverRate: config.takeoverRate,
  runId: `sim${config.seed.toString(36)}${Date.now().toString(36)}`,
});
const client = new TradewatchClient({
  url: config.gatewayUrl,
  token: config.token,
  // A simulated game server never gives up on its events while it runs; close() bounds the end.
  retry: { maxElapsedMs: Infinity },
  closeTimeoutMs: 10_000,
  onRetry: ({ attempt, delayMs, events, error }) =>
    log.warn(
      { attempt, delayMs, events, code: error.code, status: error.status },
      'gateway busy or unreachable, retrying',
    ),
});

const totals = { sent: 0, accepted: 0, rejected: 0, failed: 0 };
const record = (outcomes: EventOutcome[]): void => {
  for (const o of outcomes) {
    if (o.status === 'accepted') totals.accepted++;
    else if (o.status === 'failed') totals.failed++;
    else {
      totals.rejected++;
      log.error({ eventId: o.eventId, outcome: o }, 'gateway refused an event');
    }
  }
};

let running = true;
const inFlight = new Set<Promise<void>>();
onShutdown(log, async () => {
  running = false;
  await client.close();
});

const started = Date.now();
const statsTimer = setInterval(() => {
  const { pending, retries, duplicates } = client.stats();
  log.info(
    {
      ...totals,
      pending,
      retries,
      duplicates,
      takeovers: generator.takeovers,
      elapsedSec: Math.round((Date.now() - started) / 1000),
    },
    'stats',
  );
}, 10000);
statsTimer.unref();

log.info(
  { url: config.gatewayUrl.toString(), rate: config.eventsPerSec, users: config.users },
  'simulating game servers',
);
const interval = (config.batchSize / config.eventsPerSec) * 1000;
let due = Date.now();
while (running && (config.durationSec === 0 || Date.now() - started < config.durationSec * 1000)) {
  const now = Date.now();
  const batch = Array.from({ length: config.batchSize }, () => generator.next(now)) as GameEvent[];
  totals.sent += batch.length;
  const settled: Promise<void> = client.send(batch).then(record, (err: unknown) => {
    if (running) log.error({ err }, 'send failed');
  });
  inFlight.add(settled);
  void settled.finally(() => inFlight.delete(settled));
  // While the gateway is down the client retries; the simulator then waits rather than queueing.
  while (running && client.stats().pending > 20 * config.batchSize)
    await Promise.race([...inFlight, sleep(100)]);
  due += interval;
  const delay = due - Date.now();
  if (delay > 0) await sleep(delay);
  else if (delay < -5000) due = Date.now();
}
clearInterval(statsTimer);
await client.close();
log.info({ ...totals, ...client.stats(), takeovers: generator.takeovers }, 'simulation finished');
process.exit(0);
