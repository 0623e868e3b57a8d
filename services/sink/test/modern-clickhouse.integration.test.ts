// The archive schema and the analysts' queries on a current ClickHouse. The other integration
// tests run against the Debian 18.16 server; this one runs the same migrations, rendered for
// what a current server reports (LowCardinality, codecs, DateTime64, TTL), through chdb, an
// in-process build of current ClickHouse installed into .data/venv-chdb by scripts/ensure-chdb.sh.
// Statements go through scripts/chdb-sql.py, one persistent session directory per test run; the
// migrations are applied by the runner's own applyStatements (guards included) over chdb.
// Skipped only when chdb cannot be installed (e.g. no network); any other failure fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { detectCapabilities, sqlTable, type ClickHouseClient } from '@tradewatch/shared/clickhouse';
import { EXAMPLE_QUERIES, renderExample } from '../src/analyst-queries.ts';
import { encodeAlertRow, encodeEventRow, encodeLabelRow } from '../src/archive-rows.ts';
import { applyStatements, type StatementPort } from '../src/migration-runner.ts';
import { MIGRATIONS, ledgerStatements, renderMigration, statementText } from '../src/migrations.ts';
import { latestLabels, makeAlert, makeEvents, makeLabels } from './fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const ENSURE_CHDB = join(ROOT, 'scripts/ensure-chdb.sh');
const CHDB_SQL = join(ROOT, 'scripts/chdb-sql.py');
const DATABASE = 'tradewatch_modern';

interface StatementResult {
  sql: string;
  rows?: string;
  error?: string;
}

/** Runs statements in order in the chdb session stored in `dir`; throws on the first failure. */
const runChdb = (python: string, dir: string, statements: readonly string[]): Promise<StatementResult[]> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(python, [CHDB_SQL, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        resolvePromise(JSON.parse(out) as StatementResult[]);
        return;
      }
      let failed: StatementResult | undefined;
      try {
        failed = (JSON.parse(out) as StatementResult[]).at(-1);
      } catch {
        // no JSON: the runner itself failed; stderr says why
      }
      reject(
        new Error(
          failed?.error === undefined
            ? `chdb-sql.py exited ${code}: ${err.trim()}`
            : `current ClickHouse rejected a statement: ${failed.error}\n--- statement ---\n${failed.sql}`,
        ),
      );
    });
    child.stdin.end(JSON.stringify(statements));
  });

const rowsOf = <T>(r: StatementResult | undefined): T[] =>
  (r?.rows ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

/**
 * Just enough of a ClickHouseClient (query → JSONEachRow rows) for detectCapabilities, so that
 * the capabilities come from the sink's own detection queries, answered by chdb.
 */
const chdbQueryClient = (python: string, dir: string): ClickHouseClient =>
  ({
    query: async ({ query }: { query: string }) => {
      const [r] = await runChdb(python, dir, [query]);
      return { json: () => Promise.resolve(rowsOf(r)) };
    },
  }) as unknown as ClickHouseClient;

test('migrations and analyst queries run on a current ClickHouse (chdb)', async (t) => {
  // chdb comes from the Python package index, which every machine this runs on reaches: failing
  // to install it is a failure of this test, not a reason to skip it.
  let python: string;
  const installStarted = performance.now();
  try {
    const { stdout } = await promisify(execFile)('bash', [ENSURE_CHDB], {
      cwd: ROOT,
      timeout: 15 * 60 * 1000,
      maxBuffer: 16 * 1024 * 1024,
    });
    python = stdout.trim().split('\n').at(-1)!;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    assert.fail(
      `chdb could not be installed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  t.diagnostic(`chdb ready in ${Math.round(performance.now() - installStarted)} ms: ${python}`);

  const dir = await mkdtemp(join(tmpdir(), 'tradewatch-chdb-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = (statements: readonly string[]) => runChdb(python, dir, statements);

  const caps = await detectCapabilities(chdbQueryClient(python, dir));
  t.diagnostic(`current ClickHouse ${caps.version.text}`);

  await t.test('the sink detects every modern feature', () => {
    assert.ok(caps.version.major >= 24, `expected a current server, got ${caps.version.text}`);
    assert.deepEqual(
      {
        lowCardinality: caps.lowCardinality,
        codecs: caps.codecs,
        dateTime64: caps.dateTime64,
        ttl: caps.ttl,
      },
      { lowCardinality: true, codecs: true, dateTime64: true, ttl: true },
    );
  });

  const ctx = { database: DATABASE, caps };
  const rendered = MIGRATIONS.map((m) => renderMigration(m, ctx));
  const allStatements = [...ledgerStatements(DATABASE), ...rendered.flatMap((m) => m.statements)];
  const port: StatementPort = {
    run: async (sql) => {
      await run([sql]);
    },
    rows: async (sql) => rowsOf<unknown>((await run([sql]))[0]),
  };
  const migrate = () => applyStatements(port, allStatements);

  await t.test('every migration, rendered with modern features, applies', async () => {
    const text = allStatements.map(statementText).join('\n');
    for (const feature of ['LowCardinality(', 'CODEC(', 'DateTime64(3', 'TTL ', 'ADD COLUMN']) {
      assert.ok(text.includes(feature), `rendered migrations use ${feature}`);
    }
    await migrate();
    const tables = rowsOf<{ name: string }>(
      (await run([`SELECT name FROM system.tables WHERE database = '${DATABASE}' ORDER BY name`]))[0],
    ).map((r) => r.name);
    for (const table of [
      'alert_labels',
      'alerts',
      'alerts_per_minute',
      'events',
      'events_per_minute',
      'flagged_users',
      'schema_migrations',
    ]) {
      assert.ok(tables.includes(table), `table ${table} exists (have ${tables.join(', ')})`);
    }
  });

  await t.test('running the migrations again is a no-op', async () => {
    const describe = async () =>
      (
        await run(
          ['events', 'alerts', 'events_per_minute', 'alerts_per_minute', 'flagged_users', 'alert_labels'].map(
            (tbl) => `SHOW CREATE TABLE ${sqlTable(DATABASE, tbl)}`,
          ),
        )
      ).map((r) => r.rows);
    const before = await describe();
    assert.match(before[1] ?? '', /`kafkaPartition` UInt32,.*`kafkaOffset` UInt64/s);
    await migrate();
    assert.deepEqual(await describe(), before);
  });

  const now = Date.now();
  const events = makeEvents(40, { users: 5, now });
  const duplicate = events.find((e) => e.type === 'trade')!;
  const alerts = [0, 1, 2, 3].map((i) => makeAlert(i, now));
  const alertRows = alerts.map((a, i) => encodeAlertRow(a, { partition: i % 2, offset: 100 + i }));
  // Alerts 0-2 labelled (1, 2 and 3 verdicts), alert 3 not.
  const labels = makeLabels(
    alerts.slice(0, 3).map((a) => a.alertId),
    now,
  );

  await t.test('rows in the sink format insert, and FINAL counts a duplicate once', async () => {
    const insert = (table: string, rows: string[]) =>
      `INSERT INTO ${sqlTable(DATABASE, table)} FORMAT JSONEachRow\n${rows.join('\n')}\n`;
    // Separate inserts: the duplicate lands in its own part, as a redelivered batch would.
    await run([
      insert(
        'events',
        events.map((e) => encodeEventRow(e)),
      ),
      insert('events', [encodeEventRow(duplicate)]),
      insert('alerts', alertRows),
      insert('alerts', [alertRows[0]!]),
      insert('alert_labels', labels.map(encodeLabelRow)),
      insert('alert_labels', [encodeLabelRow(labels[1]!)]),
    ]);
    const results = await run([
      `SELECT count() AS n FROM ${sqlTable(DATABASE, 'events')} FINAL`,
      `SELECT count() AS n FROM ${sqlTable(DATABASE, 'events')}`,
      `SELECT count() AS n FROM ${sqlTable(DATABASE, 'alerts')} FINAL`,
      `SELECT amountMicros, toUnixTimestamp64Milli(ts) AS tsMs FROM ${sqlTable(DATABASE, 'events')}
       WHERE eventId = '${duplicate.eventId}' LIMIT 1`,
      `SELECT count() AS n FROM ${sqlTable(DATABASE, 'alert_labels')} FINAL`,
      `SELECT alertId, toString(argMax(label, labelledAtMs)) AS current FROM ${sqlTable(DATABASE, 'alert_labels')}
       GROUP BY alertId ORDER BY alertId`,
      `SELECT kafkaPartition, max(kafkaOffset) AS maxOffset FROM ${sqlTable(DATABASE, 'alerts')}
       GROUP BY kafkaPartition ORDER BY kafkaPartition`,
    ]);
    const n = (i: number) => Number(rowsOf<{ n: string }>(results[i])[0]?.n);
    assert.equal(n(0), events.length);
    assert.equal(n(1), events.length + 1);
    assert.equal(n(2), alerts.length);
    const [exact] = rowsOf<{ amountMicros: string; tsMs: string }>(results[3]);
    assert.equal(Number(exact?.tsMs), duplicate.ts, 'DateTime64 keeps milliseconds');
    assert.equal(n(4), labels.length);
    assert.deepEqual(
      new Map(rowsOf<{ alertId: string; current: string }>(results[5]).map((r) => [r.alertId, r.current])),
      latestLabels(labels),
    );
    assert.deepEqual(
      rowsOf<{ kafkaPartition: number; maxOffset: string }>(results[6]).map((r) => [
        r.kafkaPartition,
        Number(r.maxOffset),
      ]),
      [
        [0, 102],
        [1, 103],
      ],
    );
  });

  await t.test('every analyst query runs', async () => {
    const user = alerts[1]!.userId;
    const sample: Record<string, Record<string, string>> = { 'alerts-of-user': { user } };
    const sqls = EXAMPLE_QUERIES.map((q) => renderExample(q, DATABASE, sample[q.name] ?? {}));
    const results = await run(sqls);
    assert.equal(results.length, EXAMPLE_QUERIES.length);
    const byName = new Map(
      EXAMPLE_QUERIES.map((q, i) => [q.name, rowsOf<Record<string, unknown>>(results[i])]),
    );
    assert.deepEqual(
      // UNION ALL does not promise an order on a current server.
      byName
        .get('archive-counts')
        ?.map((r) => [r.tbl, Number(r.rows)])
        .sort(),
      [
        ['alert_labels', labels.length],
        ['alerts', alerts.length],
        ['events', events.length],
      ],
    );
    // Counts are numbers here (64-bit integers are quoted only on 18.16).
    assert.deepEqual(
      byName
        .get('precision-per-rule')
        ?.map((r) => Object.values(r).map((v) => (typeof v === 'string' ? v : Number(v)))),
      [[alerts[0]!.rule, alerts.length, 1, 1, 1, 0.5]],
    );
    // What each query must find in the rows inserted above (the duplicate counted once).
    const sum = (name: string, column: string) =>
      (byName.get(name) ?? []).reduce((n, r) => n + Number(r[column]), 0);
    assert.equal(sum('events-per-minute', 'events'), events.length, 'events-per-minute counts every event');
    assert.equal(sum('alerts-per-minute', 'alerts'), alerts.length, 'alerts-per-minute counts every alert');
    assert.equal(byName.get('top-flagged-users')?.length, new Set(alerts.map((a) => a.userId)).size);
    assert.equal(sum('top-flagged-users', 'alerts'), alerts.length);
    const ipsOf = new Map<string, Set<string>>();
    for (const e of events) {
      if (e.ip === undefined || e.ip === '') continue;
      ipsOf.set(e.userId, (ipsOf.get(e.userId) ?? new Set()).add(e.ip));
    }
    assert.deepEqual(
      (byName.get('users-many-ips') ?? []).map((r) => [r.userId, Number(r.distinctIps)]).sort(),
      [...ipsOf]
        .filter(([, ips]) => ips.size >= 3)
        .map(([u, ips]) => [u, ips.size])
        .sort(),
      'users-many-ips: the users with three distinct IPs or more',
    );
    // The user's trades within ±10 minutes of each of the user's alerts (none of them is the
    // flagged trade itself: these alerts name trades outside the events inserted).
    const trades = events.filter((e) => e.type === 'trade');
    const around = alerts
      .filter((a) => a.userId === user)
      .flatMap((a) =>
        trades
          .filter((e) => e.userId === user && Math.abs(e.ts - a.tradeTs) <= 10 * 60000)
          .map((e) => [a.alertId, e.eventId]),
      )
      .sort();
    assert.ok(around.length > 0, 'the sample has trades around the alert');
    assert.deepEqual(
      (byName.get('alerts-of-user') ?? []).map((r) => [r.alertId, r.eventId]).sort(),
      around,
      "alerts-of-user: the user's trades around each of the user's alerts",
    );
    const largest = byName.get('largest-trades-vs-median') ?? [];
    assert.ok(largest.length > 0 && largest.length <= trades.length);
    assert.equal(
      Number(largest[0]!.amount),
      Math.max(...trades.map((e) => (e.type === 'trade' ? e.amount : 0))),
      'largest-trades-vs-median starts with the largest trade',
    );
    assert.equal(sum('alert-rate', 'alerts'), alerts.length, 'alert-rate counts every alert');
    assert.equal(sum('alert-rate', 'trades'), trades.length, 'alert-rate joins the trades of the hour');
  });
});
