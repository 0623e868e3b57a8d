// Migration planning (what to apply given the ledger), rendering per server capabilities, the
// checksums existing ledgers hold, and how guarded statements are applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesOf } from '@tradewatch/shared/clickhouse';
import { LABEL_VALUES } from '@tradewatch/shared/labels';
import { applyStatements, type StatementPort } from '../src/migration-runner.ts';
import {
  MIGRATIONS,
  planMigrations,
  renderMigration,
  statementText,
  type LedgerRow,
  type Migration,
} from '../src/migrations.ts';

const old = capabilitiesOf('18.16.1', { settings: [], dataTypes: ['LowCardinality'], functions: [] });
const modern = capabilitiesOf('24.8.1', {
  settings: [],
  dataTypes: ['LowCardinality', 'DateTime64'],
  functions: ['fromUnixTimestamp64Milli'],
});
const ctxOld = { database: 'tw', caps: old };
const ctxModern = { database: 'tw', caps: modern };

const ledgerOf = (ctx: typeof ctxOld, versions: number[]): LedgerRow[] =>
  MIGRATIONS.filter((m) => versions.includes(m.version)).map((m) => ({
    version: m.version,
    name: m.name,
    checksum: renderMigration(m, ctx).checksum,
    serverVersion: ctx.caps.version.text,
  }));

test('a fresh database gets every migration, in order', () => {
  const plan = planMigrations(MIGRATIONS, [], ctxOld);
  assert.deepEqual(
    plan.pending.map((m) => m.version),
    MIGRATIONS.map((m) => m.version),
  );
  assert.deepEqual(plan.changed, []);
  assert.deepEqual(plan.unknown, []);
});

test('applied migrations are skipped; a partly migrated database gets the rest', () => {
  const all = MIGRATIONS.map((m) => m.version);
  assert.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(planMigrations(MIGRATIONS, ledgerOf(ctxOld, all), ctxOld).pending, []);
  assert.deepEqual(
    planMigrations(MIGRATIONS, ledgerOf(ctxOld, [1, 2]), ctxOld).pending.map((m) => m.version),
    [3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  // A database migrated before labels existed gets exactly the new ones, nothing changed.
  const upgrade = planMigrations(MIGRATIONS, ledgerOf(ctxOld, [1, 2, 3, 4, 5]), ctxOld);
  assert.deepEqual(
    upgrade.pending.map((m) => m.version),
    [6, 7, 8, 9, 10, 11],
  );
  assert.deepEqual(upgrade.changed, []);
});

test('the checksums in existing ledgers still match: applied migrations never change', () => {
  // Database `tradewatch` (the default). A new schema change is a new version, never an edit.
  const checksums = (caps: typeof old) =>
    MIGRATIONS.map((m) => renderMigration(m, { database: 'tradewatch', caps }).checksum);
  assert.deepEqual(checksums(old), [
    'da4221d759c5686f',
    '968b09b2d512f97c',
    '419952a08a03d6a6',
    '9e52ff0e3dbb628d',
    '3ca6ece7c3c6aef4',
    'd237ffa384de77ea',
    '2468588254793dcc',
    '38f4392fbf4e41a0',
    'f787b7abb6f49e09',
    '858a1f63e56d4ecd',
    'a8b35c7080aeeae5',
  ]);
  assert.deepEqual(checksums(modern), [
    'be1fc9be3f796f0f',
    '9f1d3c88fca86efc',
    '90db9c0876ee1d24',
    'bcb3c9a36c700a6c',
    'f595fafd9916e7c9',
    '4a78c682e29d71ba',
    '2468588254793dcc',
    '38f4392fbf4e41a0',
    '777f748b020b6212',
    'fdcace12ffc6bea4',
    'a8b35c7080aeeae5',
  ]);
});

test('changed text is reported, and explained by a server upgrade when that is the cause', () => {
  const ledger = ledgerOf(ctxOld, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const upgraded = planMigrations(MIGRATIONS, ledger, ctxModern);
  assert.deepEqual(upgraded.pending, []);
  assert.ok(upgraded.changed.length > 0);
  assert.match(upgraded.changed[0]!.reason, /applied on ClickHouse 18\.16\.1, now 24\.8\.1/);
  const edited = planMigrations(
    MIGRATIONS,
    ledger.map((r) => ({ ...r, checksum: 'x' })),
    ctxOld,
  );
  assert.match(edited.changed[0]!.reason, /changed since it was applied/);
});

test('versions the code does not know are reported; versions must increase', () => {
  const plan = planMigrations(
    MIGRATIONS,
    [
      ...ledgerOf(ctxOld, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      { version: 99, name: 'x', checksum: 'y', serverVersion: '' },
    ],
    ctxOld,
  );
  assert.deepEqual(plan.unknown, [99]);
  const bad: Migration[] = [
    { version: 2, name: 'b', statements: () => [] },
    { version: 1, name: 'a', statements: () => [] },
  ];
  assert.throws(() => planMigrations(bad, [], ctxOld), /increase/);
});

test('18.16 gets plain types; a current server gets LowCardinality, codecs, DateTime64 and TTL', () => {
  const all = (ctx: typeof ctxOld) =>
    MIGRATIONS.flatMap((m) => m.statements(ctx))
      .map(statementText)
      .join('\n');
  const sqlOld = all(ctxOld);
  for (const modernOnly of ['LowCardinality', 'CODEC', 'DateTime64', 'TTL', 'fromUnixTimestamp64Milli']) {
    assert.equal(sqlOld.includes(modernOnly), false, `${modernOnly} on 18.16`);
  }
  const sqlModern = all(ctxModern);
  for (const modernOnly of [
    'LowCardinality(String)',
    'CODEC(',
    "DateTime64(3, 'UTC')",
    'TTL minute',
    'fromUnixTimestamp64Milli',
  ]) {
    assert.ok(sqlModern.includes(modernOnly), `${modernOnly} on a current server`);
  }
});

test('every statement is idempotent by construction and names the database explicitly', () => {
  for (const ctx of [ctxOld, ctxModern]) {
    for (const m of MIGRATIONS) {
      for (const st of m.statements(ctx)) {
        if (typeof st === 'string') {
          // A backfill aggregates with uniq* or min: repeating it changes no result.
          assert.match(
            st,
            /^(CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS `tw`\.|INSERT INTO `tw`\.\S+ SELECT .*(uniq|minState))/s,
            st,
          );
          continue;
        }
        // What 18.16 cannot say with IF NOT EXISTS is guarded by a look at system.columns for
        // exactly the column the statement adds.
        const add = /^ALTER TABLE `tw`\.`(\w+)` ADD COLUMN (\w+) \w+$/.exec(st.sql);
        assert.ok(add, st.sql);
        assert.equal(
          st.doneIf,
          `SELECT name FROM system.columns WHERE database = 'tw' AND table = '${add[1]}' AND name = '${add[2]}'`,
        );
      }
    }
  }
  // Replayed batches must not change the tables' row identity: the sort keys end with the ids.
  const first = (i: number) => statementText(MIGRATIONS[i]!.statements(ctxOld)[0]!);
  assert.match(first(0), /ReplacingMergeTree[\s\S]*ORDER BY \(userId, ts, eventId\)/);
  assert.match(first(1), /ReplacingMergeTree[\s\S]*ORDER BY \(userId, tradeTs, alertId\)/);
  // A label is told apart by all it says but the note: a replay collapses, a changed verdict stays.
  assert.match(
    first(5),
    /ReplacingMergeTree\s+PARTITION BY toYYYYMM\(labelledAt\)\s+ORDER BY \(alertId, labelledAtMs, author, label\)$/,
  );
});

test('the alert_labels Enum holds exactly the contract’s label values', () => {
  const sql = statementText(MIGRATIONS[5]!.statements(ctxOld)[0]!);
  const values = [...sql.matchAll(/'(\w+)' = \d+/g)].map((m) => m[1]);
  assert.deepEqual(values, [...LABEL_VALUES]);
});

/** A server of columns only: ADD COLUMN fails when the column exists, like ClickHouse. */
const fakeServer = () => {
  const columns = new Set<string>();
  const ran: string[] = [];
  let beforeRun = (_sql: string): void => undefined;
  const port: StatementPort = {
    run: (sql) => {
      ran.push(sql);
      beforeRun(sql);
      const add = /ADD COLUMN (\w+)/.exec(sql);
      if (add !== null) {
        if (columns.has(add[1]!))
          return Promise.reject(new Error(`Code: 44, column ${add[1]} already exists`));
        columns.add(add[1]!);
      }
      return Promise.resolve();
    },
    rows: (sql) => Promise.resolve(columns.has(/name = '(\w+)'/.exec(sql)![1]!) ? [{ name: 'x' }] : []),
  };
  return { columns, ran, port, onRun: (f: (sql: string) => void) => (beforeRun = f) };
};

test('guarded statements run once, again after an interruption, and tolerate a concurrent migrator', async () => {
  const statements = MIGRATIONS[6]!.statements(ctxOld);
  const server = fakeServer();
  await applyStatements(server.port, statements);
  assert.deepEqual([...server.columns], ['kafkaPartition', 'kafkaOffset']);
  // Run again (the ledger row was never written): nothing is attempted.
  await applyStatements(server.port, statements);
  assert.equal(server.ran.length, 2);

  // Interrupted after the first ALTER: the second run adds only the missing column.
  const interrupted = fakeServer();
  interrupted.columns.add('kafkaPartition');
  await applyStatements(interrupted.port, statements);
  assert.deepEqual(
    interrupted.ran.map((s) => /ADD COLUMN (\w+)/.exec(s)![1]),
    ['kafkaOffset'],
  );

  // Another migrator adds the column between our check and our ALTER: its failure is no failure.
  const raced = fakeServer();
  raced.onRun((sql) => {
    if (sql.includes('kafkaPartition')) raced.columns.add('kafkaPartition');
  });
  await applyStatements(raced.port, statements);
  assert.deepEqual([...raced.columns], ['kafkaPartition', 'kafkaOffset']);

  // A failure the guard does not explain is not swallowed.
  const broken = fakeServer();
  broken.onRun(() => {
    throw new Error('Code: 60, table does not exist');
  });
  await assert.rejects(applyStatements(broken.port, statements), /Code: 60/);
});
