// `npm run query -- "<sql>"`: runs one SQL statement against the archive's ClickHouse and prints
// the result as a table. `npm run query -- --list` lists the analysts' example queries;
// `npm run query -- --example <name> [--param value ...] [--print]` runs (or prints) one.
// Reads CLICKHOUSE_URL, CLICKHOUSE_DATABASE, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD.
import { loadSinkConfig } from './config.ts';
import { EXAMPLE_QUERIES, findExample, renderExample } from './analyst-queries.ts';
import { createSinkClickHouse } from './start-sink.ts';
import { classifyClickHouseError } from '@tradewatch/shared/clickhouse';

const USAGE = `usage:
  npm run query -- "<sql>"                              run a statement (FORMAT clause optional)
  npm run query -- --list                               list the example queries
  npm run query -- --example <name> [--<param> <value>] [--print]`;

interface CommandLine {
  flags: Set<string>;
  options: Record<string, string | undefined>;
  positionals: string[];
}

/** `--flag`, `--name value`, `--name=value` and positionals; --list and --print take no value. */
export const parseCommandLine = (argv: readonly string[]): CommandLine => {
  const line: CommandLine = { flags: new Set(), options: {}, positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      if (arg !== '--') line.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (name === 'list' || name === 'print') line.flags.add(name);
    else if (eq >= 0) line.options[name] = arg.slice(eq + 1);
    else line.options[name] = argv[++i];
  }
  return line;
};

const main = async (argv: string[]): Promise<number> => {
  const line = parseCommandLine(argv);
  const config = loadSinkConfig(process.env);
  const database = config.clickhouse.database;
  if (line.flags.has('list')) {
    for (const q of EXAMPLE_QUERIES) {
      const params = Object.entries(q.params)
        .map(([k, p]) => `--${k} <${p.kind}>${p.default === undefined ? '' : ` (default ${p.default})`}`)
        .join(' ');
      process.stdout.write(`${q.name.padEnd(26)} ${q.description}\n${''.padEnd(27)}${params}\n`);
    }
    return 0;
  }
  let sql: string;
  const { example, ...args } = line.options;
  if (example !== undefined) {
    const q = findExample(example);
    if (q === undefined) {
      process.stderr.write(`unknown example ${JSON.stringify(example)}; see --list\n`);
      return 2;
    }
    try {
      sql = renderExample(q, database, args);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
  } else if (line.positionals.length === 1 && Object.keys(args).length === 0) {
    sql = line.positionals[0]!;
  } else {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (line.flags.has('print')) {
    process.stdout.write(`${sql}\n`);
    return 0;
  }
  const client = createSinkClickHouse(config);
  try {
    const format = process.stdout.isTTY ? 'PrettyCompactMonoBlock' : 'PrettyCompactNoEscapes';
    const res = await client.exec({ query: sql, clickhouse_settings: { default_format: format as 'JSON' } });
    for await (const chunk of res.stream) process.stdout.write(chunk as Buffer);
    return 0;
  } catch (err) {
    process.stderr.write(`${classifyClickHouseError(err).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
};

// A closed pipe (`| head`) ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
