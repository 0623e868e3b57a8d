// Migration planning (what to apply given the ledger) and rendering per server capabilities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesOf } from '@tradewatch/shared/clickhouse';
import {
  MIGRATIONS,
  planMigrations,
  renderMigration,
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
  assert.deepEqual(planMigrations(MIGRATIONS, ledgerOf(ctxOld, [1, 2, 3, 4, 5]), ctxOld).pending, []);
  assert.deepEqual(
    planMigrations(MIGRATIONS, ledgerOf(ctxOld, [1, 2]), ctxOld).pending.map((m) => m.version),
    [3, 4, 5],
  );
});

test('changed text is reported, and explained by a server upgrade when that is the cause', () => {
  const ledger = ledgerOf(ctxOld, [1, 2, 3, 4, 5]);
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
    [...ledgerOf(ctxOld, [1, 2, 3, 4, 5]), { version: 99, name: 'x', checksum: 'y', serverVersion: '' }],
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
  const all = (ctx: typeof ctxOld) => MIGRATIONS.flatMap((m) => m.statements(ctx)).join('\n');
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
  for (const m of MIGRATIONS) {
    for (const sql of m.statements(ctxOld)) {
      assert.match(
        sql,
        /^(CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS `tw`\.|INSERT INTO `tw`\.\S+ SELECT .*uniq)/s,
        sql,
      );
    }
  }
  // Replayed batches must not change the tables' row identity: the sort keys end with the ids.
  const [events, alerts] = [MIGRATIONS[0]!.statements(ctxOld)[0]!, MIGRATIONS[1]!.statements(ctxOld)[0]!];
  assert.match(events, /ReplacingMergeTree[\s\S]*ORDER BY \(userId, ts, eventId\)/);
  assert.match(alerts, /ReplacingMergeTree[\s\S]*ORDER BY \(userId, tradeTs, alertId\)/);
});
