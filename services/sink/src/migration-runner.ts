// Applies the pending archive migrations and records them in the ledger table. Run by the sink
// at start-up and by `npm run migrate`; safe to run concurrently and repeatedly (every statement
// is idempotent and the ledger is a ReplacingMergeTree keyed by version).
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
} from './migrations.ts';

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
  for (const sql of ledgerStatements(database)) await runStatement(client, sql);
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
    for (const sql of m.statements) await runStatement(client, sql);
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
