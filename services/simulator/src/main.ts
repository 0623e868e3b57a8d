// Composition root of the simulator: game servers posting generated traffic to the gateway at a
// steady rate. A request answered 429 or 503 is retried as is (same eventIds), as a real game
// server should.
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@tradewatch/shared/logger';
import { onShutdown } from '@tradewatch/shared/shutdown';
import { loadSimulatorConfig } from './config.ts';
import { TrafficGenerator, type SimEvent } from './traffic-generator.ts';

const config = loadSimulatorConfig(process.env);
const log = createLogger('simulator', config.logLevel);
const generator = new TrafficGenerator({
  users: config.users,
  seed: config.seed,
  takeoverRate: config.takeoverRate,
  runId: `sim${config.seed.toString(36)}${Date.now().toString(36)}`,
});
const endpoint = new URL('/v1/events', config.gatewayUrl);

let running = true;
const totals = { sent: 0, accepted: 0, duplicates: 0, retries: 0 };
onShutdown(log, async () => {
  running = false;
  await Promise.resolve();
});

const post = async (events: SimEvent[]): Promise<void> => {
  for (let attempt = 0; running || attempt === 0; attempt++) {
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.token}` },
        body: JSON.stringify({ events }),
        signal: AbortSignal.timeout(30000),
      });
      if (res.status === 202) {
        const body = (await res.json()) as { accepted: number; duplicates: number };
        totals.accepted += body.accepted;
        totals.duplicates += body.duplicates;
        return;
      }
      const text = await res.text();
      if (res.status !== 429 && res.status !== 503) {
        log.error({ status: res.status, body: text.slice(0, 500) }, 'gateway rejected a batch');
        return;
      }
      const wait = Number(res.headers.get('retry-after') ?? '1') * 1000;
      totals.retries++;
      await sleep(Math.min(wait, 5000));
    } catch (err) {
      totals.retries++;
      log.warn({ err: (err as Error).message }, 'gateway unreachable, retrying');
      await sleep(Math.min(250 * 2 ** attempt, 5000));
    }
  }
};

const started = Date.now();
const statsTimer = setInterval(() => {
  log.info(
    { ...totals, takeovers: generator.takeovers, elapsedSec: Math.round((Date.now() - started) / 1000) },
    'stats',
  );
}, 10000);
statsTimer.unref();

log.info(
  { url: endpoint.toString(), rate: config.eventsPerSec, users: config.users },
  'simulating game servers',
);
const interval = (config.batchSize / config.eventsPerSec) * 1000;
let due = Date.now();
while (running && (config.durationSec === 0 || Date.now() - started < config.durationSec * 1000)) {
  const now = Date.now();
  const batch = Array.from({ length: config.batchSize }, () => generator.next(now));
  totals.sent += batch.length;
  await post(batch);
  due += interval;
  const delay = due - Date.now();
  if (delay > 0) await sleep(delay);
  else if (delay < -5000) due = Date.now();
}
clearInterval(statsTimer);
log.info({ ...totals, takeovers: generator.takeovers }, 'simulation finished');
process.exit(0);
