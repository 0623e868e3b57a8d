// `npm run backtest -- --rule <file.json> --from <ts> --to <ts> [--json]`: replays the archived
// events of a window through the processor's rule engine with the candidate in <file.json> and
// compares it with what the active versions raised (docs/rules.md). <ts> is epoch ms or an ISO
// date. Reads CLICKHOUSE_URL, CLICKHOUSE_DATABASE, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD.
// Exit codes: 0 done, 2 bad arguments or rule file (every problem listed), 1 anything else.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runBacktest } from '@tradewatch/shared/backtest-archive';
import { createClickHouse, isSqlIdentifier } from '@tradewatch/shared/clickhouse';
import { EnvReader } from '@tradewatch/shared/config';
import { RuleInvalidError } from '@tradewatch/shared/rules';

const USAGE = 'usage: npm run backtest -- --rule <file.json> --from <ts> --to <ts> [--json]';

const fail = (problems: string[]): never => {
  process.stderr.write(`backtest: ${problems.join('\n  ')}\n${USAGE}\n`);
  process.exit(2);
};

const parseTime = (name: string, v: string | undefined, problems: string[]): number => {
  if (v === undefined) {
    problems.push(`--${name} is required`);
    return 0;
  }
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(ms))
    problems.push(`--${name} ${JSON.stringify(v)} is neither epoch ms nor an ISO date`);
  return ms;
};

const parseCli = () => {
  try {
    return parseArgs({
      options: {
        rule: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    return fail([(err as Error).message]);
  }
};
const args = parseCli();
const problems: string[] = [];
const from = parseTime('from', args.from, problems);
const to = parseTime('to', args.to, problems);
let ruleFile: unknown;
if (args.rule === undefined) problems.push('--rule is required');
else {
  try {
    ruleFile = JSON.parse(readFileSync(args.rule, 'utf8'));
  } catch (err) {
    problems.push(`--rule ${args.rule}: ${(err as Error).message}`);
  }
}
const env = new EnvReader(process.env);
const database = env.string('CLICKHOUSE_DATABASE', 'tradewatch');
if (!isSqlIdentifier(database))
  problems.push(`CLICKHOUSE_DATABASE=${JSON.stringify(database)} is not a name`);
const config = (() => {
  try {
    return env.finish('backtest', {
      url: env.url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:']),
      username: env.optionalString('CLICKHOUSE_USER'),
      password: env.optionalString('CLICKHOUSE_PASSWORD'),
    });
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
})();
if (problems.length > 0 || config === undefined) fail(problems);

const client = createClickHouse({ ...config!, application: 'tradewatch-backtest', requestTimeoutMs: 600000 });
try {
  const report = await runBacktest({ client, database }, ruleFile, { from, to }, (p) => {
    if (!args.json && process.stderr.isTTY) process.stderr.write(`\rreplayed ${p.events} events`);
  });
  if (!args.json && process.stderr.isTTY) process.stderr.write('\n');
  if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    const pct = (p: number | null) => (p === null ? 'no labels' : `${(p * 100).toFixed(1)}%`);
    process.stdout.write(
      [
        `rule ${report.rule}, candidate version ${report.candidateVersion}, window ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`,
        `events replayed: ${report.events} (${report.windowTrades} trades in the window) in ${report.ms} ms, ${report.eventsPerSec} events/s`,
        `candidate alerts: ${report.candidate.alerts}, precision ${pct(report.precision.candidate)}`,
        `active alerts (archived): ${report.active.alerts}, precision ${pct(report.precision.active)}`,
        `only the candidate: ${report.onlyCandidate}; only the active versions: ${report.onlyActive}`,
        `the rule's history replayed by event time: ${report.replayedHistory.alerts} alerts; ` +
          `differences with the archive (versions read late): ${report.replayedHistory.notArchived} not archived, ` +
          `${report.replayedHistory.archivedNotReplayed} archived only, ${report.replayedHistory.otherVersion} by another version`,
        '',
      ].join('\n'),
    );
  }
} catch (err) {
  if (err instanceof RuleInvalidError) fail(err.problems.map((p) => `rule file ${p}`));
  process.stderr.write(`backtest failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await client.close();
}
