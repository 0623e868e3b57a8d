// The archive schema as versioned migrations, and the pure planning of which ones to apply.
// Each migration renders its statements for the server's capabilities, so the same list runs
// on ClickHouse 18.16 and on a current server (which gets LowCardinality, codecs, DateTime64 and
// TTL). Every statement is idempotent on its own (IF NOT EXISTS, backfills that aggregate with
// uniq*, or a guard that skips it once its change is there), so a migration interrupted half-way
// is simply run again; the ledger table records what was applied.
//
// Applied migrations never change: their checksums are in ledgers. A change is a new version.
import { createHash } from 'node:crypto';
import {
  sqlIdentifier,
  sqlString,
  sqlTable,
  type ClickHouseCapabilities,
} from '@tradewatch/shared/clickhouse';

export const LEDGER_TABLE = 'schema_migrations';

export interface MigrationContext {
  database: string;
  caps: ClickHouseCapabilities;
}

/**
 * A statement that cannot be made idempotent in SQL on 18.16 (it has no ADD COLUMN IF NOT
 * EXISTS): it runs only while `doneIf` returns no row, that is while its change is not there yet.
 */
export interface GuardedStatement {
  sql: string;
  /** A SELECT that returns a row once the statement's change exists. */
  doneIf: string;
}

export type MigrationStatement = string | GuardedStatement;

export interface Migration {
  version: number;
  name: string;
  statements: (ctx: MigrationContext) => MigrationStatement[];
}

/** The text of a statement, guard included: what the checksum covers and what logs show. */
export const statementText = (s: MigrationStatement): string =>
  typeof s === 'string' ? s : `${s.sql}\n-- unless: ${s.doneIf}`;

/**
 * `ALTER TABLE ... ADD COLUMN`, skipped once system.columns lists the column. No AFTER: 18.16
 * cannot place a column after a MATERIALIZED one, so new columns go last.
 */
const addColumn = (database: string, table: string, column: string, type: string): GuardedStatement => ({
  sql: `ALTER TABLE ${sqlTable(database, table)} ADD COLUMN ${column} ${type}`,
  doneIf: `SELECT name FROM system.columns WHERE database = ${sqlString(database)} AND table = ${sqlString(table)} AND name = ${sqlString(column)}`,
});

/** Column-type helpers that switch modern features on by capability. */
const typesFor = (caps: ClickHouseCapabilities) => ({
  lc: (type: string) => (caps.lowCardinality ? `LowCardinality(${type})` : type),
  codec: (spec: string) => (caps.codecs ? ` CODEC(${spec})` : ''),
  /** A point in time with the precision the server supports (ms on modern, s on 18.16), UTC. */
  time: caps.dateTime64 ? "DateTime64(3, 'UTC')" : "DateTime('UTC')",
  fromMs: (col: string) =>
    caps.dateTime64 ? `fromUnixTimestamp64Milli(${col}, 'UTC')` : `toDateTime(intDiv(${col}, 1000), 'UTC')`,
  ttl: (expr: string) => (caps.ttl ? `\nTTL ${expr}` : ''),
});

/**
 * The materialized view that feeds an aggregate table from every insert, and a backfill of the
 * rows archived before the view existed (none on a fresh database). Both are harmless to repeat:
 * the aggregates count distinct ids.
 */
const viewAndBackfill = (database: string, table: string, select: string): string[] => {
  const target = sqlTable(database, table);
  return [
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${sqlTable(database, `${table}_mv`)} TO ${target} AS\n${select}`,
    `INSERT INTO ${target} ${select}`,
  ];
};

/** Dashboards look back 13 months at most; on servers without TTL old partitions are dropped by hand. */
const AGGREGATE_RETENTION = 'INTERVAL 13 MONTH';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create events',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${sqlTable(database, 'events')} (
  eventId String${t.codec('ZSTD(1)')},
  type Enum8('login' = 1, 'trade' = 2),
  userId String${t.codec('ZSTD(1)')},
  tsMs Int64${t.codec('Delta, ZSTD(1)')},
  ts ${t.time} MATERIALIZED ${t.fromMs('tsMs')},
  ip String${t.codec('ZSTD(1)')},
  amountMicros Int64${t.codec('ZSTD(1)')},
  amount Float64 ALIAS amountMicros / 1000000,
  currency ${t.lc('String')},
  itemId String${t.codec('ZSTD(1)')},
  counterpartyId String${t.codec('ZSTD(1)')},
  gameServerId ${t.lc('String')},
  receivedAtMs Int64${t.codec('Delta, ZSTD(1)')},
  receivedAt ${t.time} MATERIALIZED ${t.fromMs('receivedAtMs')},
  archivedAt DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (userId, ts, eventId)`,
      ];
    },
  },
  {
    version: 2,
    name: 'create alerts',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${sqlTable(database, 'alerts')} (
  alertId String,
  rule ${t.lc('String')},
  ruleVersion UInt16,
  userId String,
  tradeEventId String,
  tradeTsMs Int64,
  tradeTs ${t.time} MATERIALIZED ${t.fromMs('tradeTsMs')},
  amountMicros Int64,
  amount Float64 ALIAS amountMicros / 1000000,
  baselineMicros Int64,
  baseline Float64 ALIAS baselineMicros / 1000000,
  factor Float64,
  ip String,
  knownIps Array(String),
  previousTrades UInt32,
  gameServerId ${t.lc('String')},
  detectedAtMs Int64,
  detectedAt ${t.time} MATERIALIZED ${t.fromMs('detectedAtMs')},
  archivedAt DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(tradeTs)
ORDER BY (userId, tradeTs, alertId)`,
      ];
    },
  },
  {
    // Counting distinct ids (not rows) keeps the aggregates right when a batch is inserted twice.
    // Events use uniqCombined (exact for small buckets, bounded memory for large ones).
    version: 3,
    name: 'events per minute',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      const target = sqlTable(database, 'events_per_minute');
      const select = `SELECT toStartOfMinute(ts) AS minute, type, gameServerId,
  uniqCombinedState(eventId) AS events, uniqCombinedState(userId) AS users
FROM ${sqlTable(database, 'events')}
GROUP BY minute, type, gameServerId`;
      return [
        `CREATE TABLE IF NOT EXISTS ${target} (
  minute DateTime('UTC'),
  type Enum8('login' = 1, 'trade' = 2),
  gameServerId ${t.lc('String')},
  events AggregateFunction(uniqCombined, String),
  users AggregateFunction(uniqCombined, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, type, gameServerId)${t.ttl(`minute + ${AGGREGATE_RETENTION}`)}`,
        ...viewAndBackfill(database, 'events_per_minute', select),
      ];
    },
  },
  {
    version: 4,
    name: 'alerts per minute',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      const target = sqlTable(database, 'alerts_per_minute');
      const select = `SELECT toStartOfMinute(detectedAt) AS minute, rule, gameServerId,
  uniqExactState(alertId) AS alerts, uniqExactState(userId) AS users
FROM ${sqlTable(database, 'alerts')}
GROUP BY minute, rule, gameServerId`;
      return [
        `CREATE TABLE IF NOT EXISTS ${target} (
  minute DateTime('UTC'),
  rule ${t.lc('String')},
  gameServerId ${t.lc('String')},
  alerts AggregateFunction(uniqExact, String),
  users AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, rule, gameServerId)${t.ttl(`minute + ${AGGREGATE_RETENTION}`)}`,
        ...viewAndBackfill(database, 'alerts_per_minute', select),
      ];
    },
  },
  {
    version: 5,
    name: 'flagged users',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      const target = sqlTable(database, 'flagged_users');
      const select = `SELECT userId,
  uniqExactState(alertId) AS alerts,
  minState(detectedAt) AS firstAlertAt,
  maxState(detectedAt) AS lastAlertAt,
  maxState(factor) AS maxFactor,
  maxState(amountMicros) AS maxAmountMicros,
  uniqExactState(ip) AS flaggedIps
FROM ${sqlTable(database, 'alerts')}
GROUP BY userId`;
      return [
        `CREATE TABLE IF NOT EXISTS ${target} (
  userId String,
  alerts AggregateFunction(uniqExact, String),
  firstAlertAt AggregateFunction(min, ${t.time}),
  lastAlertAt AggregateFunction(max, ${t.time}),
  maxFactor AggregateFunction(max, Float64),
  maxAmountMicros AggregateFunction(max, Int64),
  flaggedIps AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY userId`,
        ...viewAndBackfill(database, 'flagged_users', select),
      ];
    },
  },
  {
    // Analysts' verdicts (shared/src/labels.ts). Every label record is a row: a changed verdict is
    // a new row and the latest by labelledAtMs wins (argMax). The key holds everything that tells
    // two records apart, so a replayed record collapses while two verdicts of an alert stay two.
    // The Enum is spelled out, not derived from LABEL_VALUES: a new value needs a new migration.
    version: 6,
    name: 'create alert_labels',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${sqlTable(database, 'alert_labels')} (
  alertId String,
  label Enum8('confirmed_fraud' = 1, 'false_positive' = 2, 'needs_review' = 3),
  note String${t.codec('ZSTD(1)')},
  author ${t.lc('String')},
  labelledAtMs Int64,
  labelledAt ${t.time} MATERIALIZED ${t.fromMs('labelledAtMs')},
  archivedAt DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(labelledAt)
ORDER BY (alertId, labelledAtMs, author, label)`,
      ];
    },
  },
  {
    // Where each alert was on the alerts topic, so that the desk can continue a page of archived
    // alerts with the live topic: max(kafkaOffset) per kafkaPartition is where the archive ends.
    // Rows archived before this migration read 0 / 0.
    version: 7,
    name: 'alerts kafka coordinates',
    statements: ({ database }) => [
      addColumn(database, 'alerts', 'kafkaPartition', 'UInt32'),
      addColumn(database, 'alerts', 'kafkaOffset', 'UInt64'),
    ],
  },
  {
    // Where each event was on the events topic: the backtest replays a user's events in topic
    // order, as the processor applied them (receivedAt ties within a millisecond). Rows archived
    // before this migration read 0 / 0 and are ordered by receivedAt among themselves.
    version: 8,
    name: 'events kafka coordinates',
    statements: ({ database }) => [
      addColumn(database, 'events', 'kafkaPartition', 'UInt32'),
      addColumn(database, 'events', 'kafkaOffset', 'UInt64'),
    ],
  },
  {
    // Alerts of shadow rule versions (alerts.shadow), the columns of `alerts`. A trade may be
    // flagged by several shadow versions of a rule over time, so the version is in the key.
    version: 9,
    name: 'create alerts_shadow',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${sqlTable(database, 'alerts_shadow')} (
  alertId String,
  rule ${t.lc('String')},
  ruleVersion UInt16,
  userId String,
  tradeEventId String,
  tradeTsMs Int64,
  tradeTs ${t.time} MATERIALIZED ${t.fromMs('tradeTsMs')},
  amountMicros Int64,
  amount Float64 ALIAS amountMicros / 1000000,
  baselineMicros Int64,
  baseline Float64 ALIAS baselineMicros / 1000000,
  factor Float64,
  ip String,
  knownIps Array(String),
  previousTrades UInt32,
  gameServerId ${t.lc('String')},
  detectedAtMs Int64,
  detectedAt ${t.time} MATERIALIZED ${t.fromMs('detectedAtMs')},
  kafkaPartition UInt32,
  kafkaOffset UInt64,
  archivedAt DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(tradeTs)
ORDER BY (rule, ruleVersion, tradeTs, alertId)`,
      ];
    },
  },
  {
    // The rules' audit trail: every version of every rule as written to the rules topic
    // (shared/src/rules.ts); params as the definition's JSON.
    version: 10,
    name: 'create rule_versions',
    statements: ({ database, caps }) => {
      const t = typesFor(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${sqlTable(database, 'rule_versions')} (
  ruleId String,
  version UInt16,
  type ${t.lc('String')},
  mode Enum8('active' = 1, 'shadow' = 2, 'disabled' = 3),
  params String,
  effectiveFromMs Int64,
  author String,
  reason String,
  createdAtMs Int64,
  archivedAt DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree
ORDER BY (ruleId, version)`,
      ];
    },
  },
  {
    // Where each event id first was on the events topic. `events` collapses a re-sent event's rows
    // when parts merge, keeping the later copy; the processor applied the first one. The view sees
    // every insert, so the minimum is the first position whatever merges do.
    version: 11,
    name: 'event first positions',
    statements: ({ database }) => {
      const target = sqlTable(database, 'event_first_positions');
      const select = `SELECT eventId, minState(kafkaPartition) AS kafkaPartition, minState(kafkaOffset) AS kafkaOffset
FROM ${sqlTable(database, 'events')}
GROUP BY eventId`;
      return [
        `CREATE TABLE IF NOT EXISTS ${target} (
  eventId String,
  kafkaPartition AggregateFunction(min, UInt32),
  kafkaOffset AggregateFunction(min, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY eventId`,
        ...viewAndBackfill(database, 'event_first_positions', select),
      ];
    },
  },
];

/** The ledger itself: created before anything else, outside the numbered migrations. */
export const ledgerStatements = (database: string): string[] => [
  `CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(database)}`,
  `CREATE TABLE IF NOT EXISTS ${sqlTable(database, LEDGER_TABLE)} (
  version UInt32,
  name String,
  checksum String,
  serverVersion String,
  appliedAt DateTime('UTC')
)
ENGINE = ReplacingMergeTree(appliedAt)
ORDER BY version`,
];

export interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
  serverVersion: string;
}

export interface RenderedMigration {
  version: number;
  name: string;
  statements: MigrationStatement[];
  checksum: string;
}

export const renderMigration = (m: Migration, ctx: MigrationContext): RenderedMigration => {
  const statements = m.statements(ctx);
  const checksum = createHash('sha256')
    .update(statements.map(statementText).join('\n;\n'))
    .digest('hex')
    .slice(0, 16);
  return { version: m.version, name: m.name, statements, checksum };
};

export interface MigrationPlan {
  pending: RenderedMigration[];
  /** Applied migrations whose text differs from the code's (legitimate after a server upgrade). */
  changed: { version: number; name: string; reason: string }[];
  /** Versions in the ledger this code does not know: the database was migrated by newer code. */
  unknown: number[];
}

/**
 * Decides what to apply: every migration whose version is not in the ledger, in order. Pure, so
 * it is tested without a server. Versions must be unique and increasing.
 */
export const planMigrations = (
  migrations: readonly Migration[],
  applied: readonly LedgerRow[],
  ctx: MigrationContext,
): MigrationPlan => {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new Error(
        `migration versions must increase: ${migrations[i - 1]!.version} then ${migrations[i]!.version}`,
      );
    }
  }
  const byVersion = new Map(applied.map((r) => [r.version, r]));
  const known = new Set(migrations.map((m) => m.version));
  const plan: MigrationPlan = {
    pending: [],
    changed: [],
    unknown: [...byVersion.keys()].filter((v) => !known.has(v)).sort((a, b) => a - b),
  };
  for (const m of migrations) {
    const rendered = renderMigration(m, ctx);
    const row = byVersion.get(m.version);
    if (row === undefined) {
      plan.pending.push(rendered);
    } else if (row.checksum !== rendered.checksum) {
      plan.changed.push({
        version: m.version,
        name: m.name,
        reason:
          row.serverVersion === ctx.caps.version.text
            ? 'migration text changed since it was applied'
            : `applied on ClickHouse ${row.serverVersion}, now ${ctx.caps.version.text}`,
      });
    }
  }
  return plan;
};
