// The sink's integration tests' own pieces: their names and the sink's environment, their topics
// (from the topology), generated events, alerts and labels, and checks of the archive. Waiting,
// clients, producing and reading topics, and a private ClickHouse come from the one test-support
// module, test/support/harness.ts.
import assert from 'node:assert/strict';
import { deriveAlertId, encodeAlert, RULE_ID, RULE_VERSION, type Alert } from '@tradewatch/shared/alerts';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { encodeLabel, LABEL_VALUES, type AlertLabel } from '@tradewatch/shared/labels';
import {
  queryRows,
  runStatement,
  sqlIdentifier,
  sqlTable,
  type ClickHouseClient,
} from '@tradewatch/shared/clickhouse';
import type { KafkaAdmin, KafkaClient } from '@tradewatch/shared/kafka-port';
import {
  BROKERS,
  CLICKHOUSE_URL,
  TEST_LOG_LEVEL,
  createTestTopology,
  readTopicUntil,
  uniqueName,
  type TestRecord,
  type TopicRecord,
} from '../../../test/support/harness.ts';

export interface TestNames {
  suffix: string;
  eventsTopic: string;
  alertsTopic: string;
  labelsTopic: string;
  deadLetterTopic: string;
  shadowAlertsTopic: string;
  rulesTopic: string;
  groupId: string;
  database: string;
}

/** Names under `it-sink.`: the tests check that dead letters name their source topic. */
export const uniqueNames = (label: string): TestNames => {
  const suffix = uniqueName(label);
  return {
    suffix,
    eventsTopic: `it-sink.${suffix}.events`,
    alertsTopic: `it-sink.${suffix}.alerts`,
    labelsTopic: `it-sink.${suffix}.labels`,
    deadLetterTopic: `it-sink.${suffix}.dead-letters`,
    shadowAlertsTopic: `it-sink.${suffix}.alerts.shadow`,
    rulesTopic: `it-sink.${suffix}.rules`,
    groupId: `it-sink-${suffix}`,
    database: `it_sink_${suffix.replace(/-/g, '_')}`,
  };
};

/** The environment a sink under test reads (everything its own, nothing shared). */
export const sinkEnv = (n: TestNames, extra: Record<string, string> = {}): Record<string, string> => ({
  KAFKA_BROKERS: BROKERS.join(','),
  CLICKHOUSE_URL,
  EVENTS_TOPIC: n.eventsTopic,
  ALERTS_TOPIC: n.alertsTopic,
  LABELS_TOPIC: n.labelsTopic,
  DEAD_LETTER_TOPIC: n.deadLetterTopic,
  SHADOW_ALERTS_TOPIC: n.shadowAlertsTopic,
  RULES_TOPIC: n.rulesTopic,
  SINK_GROUP_ID: n.groupId,
  CLICKHOUSE_DATABASE: n.database,
  SINK_BATCH_MAX_ROWS: '2000',
  SINK_BATCH_MAX_WAIT_MS: '200',
  SINK_RETRY_INITIAL_MS: '100',
  SINK_RETRY_MAX_MS: '1000',
  SINK_SESSION_TIMEOUT_MS: '10000',
  SINK_HEARTBEAT_INTERVAL_MS: '1000',
  STATS_INTERVAL_MS: '0',
  LOG_LEVEL: TEST_LOG_LEVEL ?? 'warn',
  ...extra,
});

/**
 * The test's topics as the services create them, with fewer alerts than events partitions by
 * default; `labels: false` leaves the labels topic to the sink, as when the desk is not up yet.
 */
export const createSinkTopics = (
  kafka: KafkaClient,
  n: TestNames,
  { events = 3, alerts = 2, labels = true }: { events?: number; alerts?: number; labels?: boolean } = {},
) =>
  createTestTopology(
    kafka,
    {
      events: n.eventsTopic,
      alerts: n.alertsTopic,
      deadLetters: n.deadLetterTopic,
      ...(labels ? { labels: n.labelsTopic } : {}),
    },
    { eventsPartitions: events, partitions: { alerts } },
  );

export const cleanUp = async (admin: KafkaAdmin, client: ClickHouseClient, n: TestNames): Promise<void> => {
  await runStatement(client, `DROP DATABASE IF EXISTS ${sqlIdentifier(n.database)}`);
  await admin.deleteTopics([
    n.eventsTopic,
    n.alertsTopic,
    n.labelsTopic,
    n.deadLetterTopic,
    n.shadowAlertsTopic,
    n.rulesTopic,
  ]);
};

export const countRows = async (
  client: ClickHouseClient,
  database: string,
  table: 'events' | 'alerts' | 'alert_labels',
): Promise<{ final: number; raw: number }> => {
  const [r] = await queryRows<{ final: string; raw: string }>(
    client,
    `SELECT (SELECT count() FROM ${sqlTable(database, table)} FINAL) AS final, (SELECT count() FROM ${sqlTable(database, table)}) AS raw`,
  );
  return { final: Number(r?.final ?? 0), raw: Number(r?.raw ?? 0) };
};

/** The amounts makeEvents uses, with their exact value in micro-units. */
export const AMOUNT_MICROS: ReadonlyMap<number, bigint> = new Map([
  [0.1, 100000n],
  [12.345678, 12345678n],
  [100, 100000000n],
  [2500.5, 2500500000n],
  [999999999999.99, 999999999999990000n],
  [1, 1000000n],
  [0.000001, 1n],
  [77.7, 77700000n],
]);

/** Deterministic traffic: per user a login, then trades; amounts with awkward decimals. */
export const makeEvents = (
  count: number,
  opts: { users?: number; prefix?: string; now?: number } = {},
): GameEvent[] => {
  const users = opts.users ?? 50;
  const prefix = opts.prefix ?? 'ev';
  const now = opts.now ?? Date.now();
  const amounts = [...AMOUNT_MICROS.keys()];
  const events: GameEvent[] = [];
  for (let i = 0; i < count; i++) {
    const userId = `user-${i % users}`;
    const base = {
      eventId: `${prefix}-${i}`,
      userId,
      ts: now - (count - i) * 7,
      gameServerId: `gs-${i % 3}`,
      receivedAt: now,
    };
    if (i < users || i % 10 === 0) {
      events.push({ ...base, type: 'login', ip: `10.${i % 7}.${i % 250}.${i % 13}` });
    } else {
      const ev: GameEvent = {
        ...base,
        type: 'trade',
        amount: amounts[i % amounts.length]!,
        currency: i % 4 === 0 ? 'gems' : 'gold',
      };
      if (i % 3 === 0) ev.itemId = `item-${i % 11}`;
      if (i % 5 === 0) ev.counterpartyId = `user-${(i + 1) % users}`;
      if (i % 2 === 0) ev.ip = i % 4 === 0 ? '2001:db8::1' : '192.0.2.7';
      events.push(ev);
    }
  }
  return events;
};

export const makeAlert = (i: number, now = Date.now()): Alert => {
  const tradeEventId = `trade-for-alert-${i}`;
  return {
    alertId: deriveAlertId(RULE_ID, tradeEventId),
    rule: RULE_ID,
    ruleVersion: RULE_VERSION,
    userId: `user-${i % 7}`,
    tradeEventId,
    tradeTs: now - 1000 * i,
    amount: 1234.56 + i,
    baseline: 100.25,
    factor: (1234.56 + i) / 100.25,
    ip: '203.0.113.9',
    knownIps: ['10.0.0.1', "quote'and\\backslash", '2001:db8::2'],
    previousTrades: 5 + (i % 15),
    gameServerId: `gs-${i % 3}`,
    detectedAt: now,
  };
};

/**
 * The j-th verdict on alert i: labels of one alert change over time (later labelledAt), and
 * come from more than one analyst.
 */
export const makeLabel = (alertId: string, j: number, now = Date.now()): AlertLabel => ({
  alertId,
  label: LABEL_VALUES[j % LABEL_VALUES.length]!,
  note: j % 2 === 0 ? '' : `second look #${j}: "VPN" ünï \\ \n`,
  author: `analyst-${j % 2}`,
  labelledAt: now - 1000000 + j * 1000,
});

/**
 * Labels for `alertIds`: alert i gets 1 + (i % 3) verdicts, so some alerts' labels change and
 * some are labelled once. Returns them in the order the desk would publish them.
 */
export const makeLabels = (alertIds: readonly string[], now = Date.now()): AlertLabel[] =>
  alertIds.flatMap((id, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => makeLabel(id, j, now)));

/** Each alert's label in force: the one with the latest labelledAt. */
export const latestLabels = (labels: readonly AlertLabel[]): Map<string, AlertLabel['label']> => {
  const latest = new Map<string, AlertLabel>();
  for (const l of labels) {
    const cur = latest.get(l.alertId);
    if (cur === undefined || l.labelledAt >= cur.labelledAt) latest.set(l.alertId, l);
  }
  return new Map([...latest].map(([id, l]) => [id, l.label]));
};

export const eventMessage = (ev: GameEvent): TestRecord => ({ key: ev.userId, value: encodeEvent(ev) });
export const alertMessage = (a: Alert): TestRecord => ({ key: a.userId, value: encodeAlert(a) });
export const labelMessage = (l: AlertLabel): TestRecord => ({ key: l.alertId, value: encodeLabel(l) });

/** Produces in one transaction, like the processor; `abort` leaves the records invisible. */
export const produceTransactional = async (
  kafka: KafkaClient,
  topic: string,
  messages: TestRecord[],
  opts: { abort?: boolean; transactionalId: string },
): Promise<void> => {
  const producer = kafka.transactionalProducer({
    transactionalId: opts.transactionalId,
    transactionTimeoutMs: 30000,
  });
  try {
    await producer.init();
    await producer.begin();
    await producer.send(messages.map((m) => ({ topic, ...m })));
    if (opts.abort === true) await producer.abort();
    else await producer.commit();
  } finally {
    await producer.close();
  }
};

export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

const readRecord = (r: TopicRecord): ReadRecord => ({
  partition: r.partition,
  offset: r.offset,
  key: r.key?.toString() ?? null,
  value: r.value?.toString() ?? null,
  headers: Object.fromEntries([...r.headers].map(([k, v]) => [k, v.toString()])),
});

/** Reads every (committed) record of a small topic from the beginning until `count` arrived. */
export const readTopic = async (
  kafka: KafkaClient,
  topic: string,
  count: number,
  timeoutMs = 30000,
): Promise<ReadRecord[]> =>
  (await readTopicUntil(kafka, topic, (records) => records.length >= count, { timeoutMs, everyMs: 100 })).map(
    readRecord,
  );

/**
 * Checks the alert rows' Kafka coordinates against the alerts topic as a read_committed consumer
 * sees it: each row's (partition, offset) is one of its alert's records, and the desk's query for
 * where the archive ends gives, per partition, the offset of the last alert archived from it.
 */
export const assertAlertCoordinates = async (
  client: ClickHouseClient,
  database: string,
  records: readonly ReadRecord[],
): Promise<void> => {
  const coordinates = new Map<string, string[]>();
  const lastArchivable = new Map<number, number>();
  for (const r of records) {
    let alertId: unknown;
    try {
      alertId = (JSON.parse(r.value ?? '') as { alertId?: unknown }).alertId;
    } catch {
      continue;
    }
    if (typeof alertId !== 'string' || !/^[0-9a-f-]{36}$/.test(alertId)) continue; // dead-lettered
    coordinates.set(alertId, [...(coordinates.get(alertId) ?? []), `${r.partition}/${r.offset}`]);
    lastArchivable.set(r.partition, Math.max(lastArchivable.get(r.partition) ?? -1, r.offset));
  }
  const rows = await queryRows<{ alertId: string; kafkaPartition: number; kafkaOffset: string }>(
    client,
    `SELECT alertId, kafkaPartition, kafkaOffset FROM ${sqlTable(database, 'alerts')} FINAL`,
  );
  assert.equal(rows.length, coordinates.size);
  for (const row of rows) {
    const at = `${row.kafkaPartition}/${row.kafkaOffset}`;
    const expected = coordinates.get(row.alertId) ?? [];
    assert.ok(expected.includes(at), `alert ${row.alertId} at ${at}, its records at ${expected.join(', ')}`);
  }
  const ends = await queryRows<{ kafkaPartition: number; maxOffset: string }>(
    client,
    `SELECT kafkaPartition, max(kafkaOffset) AS maxOffset FROM ${sqlTable(database, 'alerts')}
     GROUP BY kafkaPartition ORDER BY kafkaPartition`,
  );
  assert.deepEqual(
    ends.map((e) => [e.kafkaPartition, Number(e.maxOffset)]),
    [...lastArchivable].sort(([a], [b]) => a - b),
  );
};
