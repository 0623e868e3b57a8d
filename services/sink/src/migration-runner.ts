// Applies the pending archive migrations and records them in the ledger table. Run by the sink
// at start-up and by `npm run migrate`; safe to run concurrently and repeatedly (every statement
// is idempotent or guarded, and the ledger is a ReplacingMergeTree keyed by version).
import {
  detectCapabilities,
  queryRows,
  runStatement,
  sqlLiteral,
  sqlTable,
  type ClickHouseCapabilities,
  type ClickHouseClient,
} from '@tradewatch/shared/clickhouse';
import type { Logger } from '@tradewatch/shared/logger';
import {
  LEDGER_TABLE,
  MIGRATIONS,
  ledgerStatements,
  planMigrations,
  type LedgerRow,
  type Migration,
  type MigrationStatement,
} from './migrations.ts';

/** What applying statements needs from a server; the modern-server test implements it with chdb. */
export interface StatementPort {
  run(sql: string): Promise<void>;
  rows(sql: string): Promise<unknown[]>;
}

export const clickHousePort = (client: ClickHouseClient): StatementPort => ({
  run: (sql) => runStatement(client, sql),
  rows: (sql) => queryRows<unknown>(client, sql),
});

/**
 * Runs statements in order. A guarded one runs only while its guard finds its change missing;
 * if it fails, the guard is asked again: another migrator may have made the same change in
 * between (then the failure is that change already being there).
 */
export const applyStatements = async (
  port: StatementPort,
  statements: readonly MigrationStatement[],
): Promise<void> => {
  for (const st of statements) {
    if (typeof st === 'string') {
      await port.run(st);
      continue;
    }
    if ((await port.rows(st.doneIf)).length > 0) continue;
    try {
      await port.run(st.sql);
    } catch (err) {
      if ((await port.rows(st.doneIf)).length > 0) continue;
      throw err;
    }
  }
};

export interface MigrationResult {
  caps: ClickHouseCapabilities;
  applied: number[];
  alreadyApplied: number[];
}

export const readLedger = async (client: ClickHouseClient, database: string): Promise<LedgerRow[]> => {
  const rows = await queryRows<{
    version: number | string;
    name: string;
    checksum: string;
    serverVersion: string;
  }>(
    client,
    `SELECT version, name, checksum, serverVersion FROM ${sqlTable(database, LEDGER_TABLE)} FINAL ORDER BY version`,
  );
  return rows.map((r) => ({ ...r, version: Number(r.version) }));
};

export const migrate = async (
  client: ClickHouseClient,
  database: string,
  log: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> => {
  const caps = await detectCapabilities(client);
  const port = clickHousePort(client);
  await applyStatements(port, ledgerStatements(database));
  const ctx = { database, caps };
  const plan = planMigrations(migrations, await readLedger(client, database), ctx);
  if (plan.unknown.length > 0) {
    log.warn(
      { versions: plan.unknown },
      'database has migrations this sink does not know (newer code ran here)',
    );
  }
  for (const c of plan.changed) log.warn(c, 'applied migration differs from the code');
  const applied: number[] = [];
  for (const m of plan.pending) {
    const started = performance.now();
    await applyStatements(port, m.statements);
    await runStatement(
      client,
      `INSERT INTO ${sqlTable(database, LEDGER_TABLE)} (version, name, checksum, serverVersion, appliedAt) VALUES (${[
        m.version,
        m.name,
        m.checksum,
        caps.version.text,
      ]
        .map((v) => sqlLiteral(v))
        .join(', ')}, now())`,
    );
    applied.push(m.version);
    log.info(
      { version: m.version, name: m.name, ms: Math.round(performance.now() - started) },
      'migration applied',
    );
  }
  const alreadyApplied = migrations.map((m) => m.version).filter((v) => !applied.includes(v));
  log.info(
    {
      database,
      server: caps.version.text,
      applied,
      alreadyApplied: alreadyApplied.length,
      modern: {
        lowCardinality: caps.lowCardinality,
        codecs: caps.codecs,
        ttl: caps.ttl,
        dateTime64: caps.dateTime64,
      },
    },
    'archive schema up to date',
  );
  return { caps, applied, alreadyApplied };
};
