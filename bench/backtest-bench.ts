// Benchmark of the backtest against the real ClickHouse, on its own database:
//   seed    — BENCH_EVENTS generated events (realistic shape, BENCH_USERS users) are archived
//             as the sink writes them (rows with their topic coordinates, migrations applied)
//   archive — `runBacktest` (what `npm run backtest` runs) over a window that is the second half
//             of the events' time: every event of the window's users is read from ClickHouse in
//             topic order and replayed through the processor's engine; events/s from the start of
//             the run to its report, twice (the second run finds ClickHouse's caches warm)
//   replay  — the same events, already in memory, through the backtest alone: the engine's rate
// Writes bench/results/backtest.json and prints a summary; the goal is ≥ 500,000 events/s
// replayed (archive). Sizes: BENCH_EVENTS (default 1,000,000), BENCH_USERS (default 20,000).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backtest, candidateFrom, ruleHistory } from '@tradewatch/shared/backtest';
import { runBacktest } from '@tradewatch/shared/backtest-archive';
import {
  createClickHouse,
  insertJsonEachRowBody,
  queryRows,
  runStatement,
  sqlIdentifier,
  sqlTable,
} from '@tradewatch/shared/clickhouse';
import { createLogger } from '@tradewatch/shared/logger';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { encodeEventRow } from '../services/sink/src/archive-rows.ts';
import { migrate } from '../services/sink/src/migration-runner.ts';
import { generateWorkload } from '../test/support/workload.ts';
import { loadBacktestBenchConfig } from './bench-config.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const cfg = loadBacktestBenchConfig(process.env);
const EVENTS = cfg.events;
const USERS = cfg.users;
const PARTITIONS = 6;
const GOAL = 500_000;
const database = `bench_backtest_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const log = createLogger('backtest-bench', 'warn');
const client = createClickHouse({
  url: cfg.clickhouseUrl,
  application: 'tradewatch-backtest-bench',
  requestTimeoutMs: 600000,
});

try {
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  await migrate(client, database, log);
  const events = generateWorkload({
    users: USERS,
    events: EVENTS,
    seed: 97,
    takeoverRate: 0.03,
    duplicateRate: 0.01,
  });
  const seedStarted = performance.now();
  const next = new Array<number>(PARTITIONS).fill(0);
  for (let i = 0; i < events.length; i += 100_000) {
    const rows = events.slice(i, i + 100_000).map((ev) => {
      const partition = partitionForKey(ev.userId, PARTITIONS);
      return encodeEventRow(ev, { partition, offset: next[partition]!++ });
    });
    await insertJsonEachRowBody(client, sqlTable(database, 'events'), [`${rows.join('\n')}\n`]);
  }
  const seedMs = performance.now() - seedStarted;
  const first = events[0]!.ts;
  const last = events.at(-1)!.ts;
  const window = { from: Math.floor((first + last) / 2), to: last + 1 };
  const rule = { ruleId: 'large-trade-new-ip', type: 'large-trade-new-ip', params: { amountFactor: 2.5 } };

  const runs = [];
  for (let i = 0; i < 2; i++) runs.push(await runBacktest({ client, database }, rule, window));

  // The engine alone, on the same events in memory (in the order the archive gives them).
  const history = ruleHistory(rule.ruleId, []);
  const inMemory = new Backtest(candidateFrom(rule, history), history, window);
  const replayStarted = performance.now();
  for (let i = 0; i < events.length; i += 10_000) inMemory.apply(events.slice(i, i + 10_000));
  const replayMs = performance.now() - replayStarted;
  const replay = inMemory.report([], new Map());

  const [version] = await queryRows<{ v: string }>(client, 'SELECT version() AS v');
  const result = {
    at: new Date().toISOString(),
    clickhouse: version?.v,
    machine: { cpus: cpus().length, loadBefore, loadAfter: loadavg().map((l) => Math.round(l * 100) / 100) },
    events: EVENTS,
    users: USERS,
    seed: { ms: Math.round(seedMs), rowsPerSec: Math.round(EVENTS / (seedMs / 1000)) },
    archive: runs.map((r) => ({
      ms: r.ms,
      eventsReplayed: r.events,
      eventsPerSec: r.eventsPerSec,
      windowTrades: r.windowTrades,
      candidateAlerts: r.candidate.alerts,
    })),
    replay: {
      ms: Math.round(replayMs),
      eventsPerSec: Math.round(EVENTS / (replayMs / 1000)),
      candidateAlerts: replay.candidate.alerts,
    },
    goal: { eventsPerSec: GOAL },
  };
  if (runs.some((r) => r.candidate.alerts !== replay.candidate.alerts)) {
    throw new Error(`the archive's replay differs from the in-memory one: ${JSON.stringify(result)}`);
  }
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', 'backtest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const best = Math.max(...runs.map((r) => r.eventsPerSec));
  const fmt = (n: number) => n.toLocaleString('en').padStart(10);
  process.stdout.write(
    [
      `backtest benchmark — ${EVENTS.toLocaleString('en')} events of ${USERS.toLocaleString('en')} users, ClickHouse ${result.clickhouse}, ${result.machine.cpus} CPUs`,
      `  seed (insert into events)       ${fmt(result.seed.rowsPerSec)} rows/s`,
      ...runs.map(
        (r, i) =>
          `  archive run ${i + 1} (ClickHouse → engine) ${fmt(r.eventsPerSec)} events/s  in ${r.ms} ms, ${r.candidate.alerts} candidate alerts${i === 1 ? `  [${best >= GOAL ? 'ok' : 'BELOW GOAL'}: ≥ ${GOAL.toLocaleString('en')}]` : ''}`,
      ),
      `  replay (engine, in memory)      ${fmt(result.replay.eventsPerSec)} events/s  in ${result.replay.ms} ms`,
      `  load average before / after  ${result.machine.loadBefore[0]} / ${result.machine.loadAfter[0]} (other work skews the rates)`,
      '  written to bench/results/backtest.json',
      '',
    ].join('\n'),
  );
} finally {
  if (!cfg.keepData)
    await runStatement(client, `DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`).catch((err: unknown) =>
      log.error({ err }, 'clean-up failed'),
    );
  await client.close();
}
