// The analysts' example queries over the archive. Each runs unchanged on ClickHouse 18.16 and on
// a current server (no query parameters, no JSON functions, JOIN ... USING, toDateTime() around
// times that are DateTime64 on modern servers, an alias on every joined subquery: current servers
// reject a JOIN of unnamed subqueries with ALIAS_REQUIRED). Deduplication: `FINAL` where rows are counted
// or listed, distinct counts (uniqExact of ids or values) where that is enough. Every argument
// reaches the SQL text through sqlLiteral (18.16 has no query parameters).
import { sqlLiteral, sqlTable } from '@tradewatch/shared/clickhouse';

export interface QueryParam {
  description: string;
  kind: 'string' | 'int';
  default?: string | number;
  min?: number;
  max?: number;
}

export interface ExampleQuery {
  name: string;
  description: string;
  params: Record<string, QueryParam>;
  sql: (database: string, args: Record<string, string | number>) => string;
}

const lit = (v: string | number): string => sqlLiteral(v);

export const EXAMPLE_QUERIES: readonly ExampleQuery[] = [
  {
    name: 'archive-counts',
    description: 'Rows per table after deduplication (FINAL) and before merges',
    params: {},
    sql: (db) => `SELECT 'events' AS tbl, (SELECT count() FROM ${sqlTable(db, 'events')} FINAL) AS rows,
  (SELECT count() FROM ${sqlTable(db, 'events')}) AS rowsBeforeMerges
UNION ALL
SELECT 'alerts' AS tbl, (SELECT count() FROM ${sqlTable(db, 'alerts')} FINAL) AS rows,
  (SELECT count() FROM ${sqlTable(db, 'alerts')}) AS rowsBeforeMerges
UNION ALL
SELECT 'alert_labels' AS tbl, (SELECT count() FROM ${sqlTable(db, 'alert_labels')} FINAL) AS rows,
  (SELECT count() FROM ${sqlTable(db, 'alert_labels')}) AS rowsBeforeMerges`,
  },
  {
    name: 'alerts-of-user',
    description: "A user's alerts, each with the user's trades within ±minutes of the flagged trade",
    params: {
      user: { description: 'userId', kind: 'string' },
      minutes: {
        description: 'window around the flagged trade',
        kind: 'int',
        default: 10,
        min: 0,
        max: 100000,
      },
    },
    sql: (db, a) => `SELECT alertId, alertTradeTs, factor, previousTrades, alertIp, knownIps,
  eventId, ts, amount, currency, ip, counterpartyId, eventId = tradeEventId AS isFlaggedTrade
FROM
(
  SELECT userId, alertId, tradeEventId, tradeTs AS alertTradeTs, factor, previousTrades, ip AS alertIp, knownIps
  FROM ${sqlTable(db, 'alerts')} FINAL
  WHERE userId = ${lit(a.user!)}
) AS userAlerts
ALL INNER JOIN
(
  SELECT userId, eventId, ts, amount, currency, ip, counterpartyId
  FROM ${sqlTable(db, 'events')} FINAL
  WHERE userId = ${lit(a.user!)} AND type = 'trade'
) AS userTrades USING userId
WHERE ts >= alertTradeTs - INTERVAL ${lit(a.minutes!)} MINUTE AND ts <= alertTradeTs + INTERVAL ${lit(a.minutes!)} MINUTE
ORDER BY alertTradeTs, alertId, ts, eventId`,
  },
  {
    name: 'alert-rate',
    description: 'Alerts per hour, distinct users flagged, and alerts per 1000 trades',
    params: { hours: { description: 'how far back', kind: 'int', default: 24, min: 1, max: 100000 } },
    sql: (db, a) => `SELECT hour, alerts, usersFlagged, trades,
  if(trades = 0, NULL, round(1000 * alerts / trades, 3)) AS alertsPer1000Trades
FROM
(
  SELECT toStartOfHour(toDateTime(detectedAt)) AS hour, count() AS alerts, uniqExact(userId) AS usersFlagged
  FROM ${sqlTable(db, 'alerts')} FINAL
  WHERE detectedAt >= now() - INTERVAL ${lit(a.hours!)} HOUR
  GROUP BY hour
) AS alertsPerHour
ANY LEFT JOIN
(
  SELECT toStartOfHour(minute) AS hour, uniqCombinedMerge(events) AS trades
  FROM ${sqlTable(db, 'events_per_minute')}
  WHERE type = 'trade' AND minute >= now() - INTERVAL ${lit(a.hours!)} HOUR
  GROUP BY hour
) AS tradesPerHour USING hour
ORDER BY hour`,
  },
  {
    name: 'users-many-ips',
    description: 'Users seen from many distinct IP addresses',
    params: {
      days: { description: 'how far back', kind: 'int', default: 30, min: 1, max: 100000 },
      minIps: {
        description: 'at least this many distinct IPs',
        kind: 'int',
        default: 3,
        min: 1,
        max: 1000000,
      },
      limit: { description: 'rows', kind: 'int', default: 50, min: 1, max: 100000 },
    },
    // Distinct counts are unaffected by rows not yet deduplicated: no FINAL needed.
    sql: (db, a) => `SELECT userId, uniqExact(ip) AS distinctIps, uniqExact(eventId) AS eventsWithIp,
  min(ts) AS firstSeen, max(ts) AS lastSeen, arraySlice(groupUniqArray(ip), 1, 10) AS someIps
FROM ${sqlTable(db, 'events')}
WHERE ip != '' AND ts >= now() - INTERVAL ${lit(a.days!)} DAY
GROUP BY userId
HAVING distinctIps >= ${lit(a.minIps!)}
ORDER BY distinctIps DESC, userId
LIMIT ${lit(a.limit!)}`,
  },
  {
    name: 'largest-trades-vs-median',
    description:
      'The largest trades, each against the median trade of its user (quantileExact: upper middle value)',
    params: {
      days: { description: 'how far back', kind: 'int', default: 30, min: 1, max: 100000 },
      limit: { description: 'rows', kind: 'int', default: 20, min: 1, max: 100000 },
    },
    sql: (db, a) => `SELECT userId, eventId, ts, amount, currency, userMedian, userTrades,
  round(amount / userMedian, 2) AS timesMedian
FROM
(
  SELECT userId, eventId, ts, amount, currency
  FROM ${sqlTable(db, 'events')} FINAL
  WHERE type = 'trade' AND ts >= now() - INTERVAL ${lit(a.days!)} DAY
  ORDER BY amountMicros DESC, eventId
  LIMIT ${lit(a.limit!)}
) AS largest
ANY LEFT JOIN
(
  SELECT userId, quantileExact(0.5)(amountMicros) / 1000000 AS userMedian, count() AS userTrades
  FROM ${sqlTable(db, 'events')} FINAL
  WHERE type = 'trade' AND ts >= now() - INTERVAL ${lit(a.days!)} DAY
  GROUP BY userId
) AS medians USING userId
ORDER BY amount DESC, eventId`,
  },
  {
    name: 'precision-per-rule',
    description:
      "Per rule: alerts, their current labels (each alert's latest), precision = confirmed / (confirmed + false positive)",
    params: {
      days: { description: 'alerts detected this far back', kind: 'int', default: 30, min: 1, max: 100000 },
    },
    // argMax needs no FINAL: a replayed label row has the same label and time. toString makes an
    // unlabelled alert's label '': unmatched, the LEFT JOIN would give the Enum's first value
    // (confirmed_fraud) on a current server, and an invalid 0 on 18.16.
    sql: (db, a) => `SELECT rule, alerts, confirmed, falsePositive, needsReview,
  if(confirmed + falsePositive = 0, NULL, round(confirmed / (confirmed + falsePositive), 4)) AS precision
FROM
(
  SELECT rule, count() AS alerts,
    countIf(currentLabel = 'confirmed_fraud') AS confirmed,
    countIf(currentLabel = 'false_positive') AS falsePositive,
    countIf(currentLabel = 'needs_review') AS needsReview
  FROM
  (
    SELECT alertId, rule
    FROM ${sqlTable(db, 'alerts')} FINAL
    WHERE detectedAt >= now() - INTERVAL ${lit(a.days!)} DAY
  ) AS recentAlerts
  ANY LEFT JOIN
  (
    SELECT alertId, toString(argMax(label, labelledAtMs)) AS currentLabel
    FROM ${sqlTable(db, 'alert_labels')}
    GROUP BY alertId
  ) AS latestLabels USING alertId
  GROUP BY rule
) AS perRule
ORDER BY rule`,
  },
  {
    name: 'events-per-minute',
    description: 'Dashboard: distinct events and users per minute, type and game server',
    params: { minutes: { description: 'how far back', kind: 'int', default: 60, min: 1, max: 10000000 } },
    sql: (
      db,
      a,
    ) => `SELECT minute, type, gameServerId, uniqCombinedMerge(events) AS events, uniqCombinedMerge(users) AS users
FROM ${sqlTable(db, 'events_per_minute')}
WHERE minute >= now() - INTERVAL ${lit(a.minutes!)} MINUTE
GROUP BY minute, type, gameServerId
ORDER BY minute, type, gameServerId`,
  },
  {
    name: 'alerts-per-minute',
    description: 'Dashboard: distinct alerts and flagged users per minute, rule and game server',
    params: { minutes: { description: 'how far back', kind: 'int', default: 60, min: 1, max: 10000000 } },
    sql: (
      db,
      a,
    ) => `SELECT minute, rule, gameServerId, uniqExactMerge(alerts) AS alerts, uniqExactMerge(users) AS users
FROM ${sqlTable(db, 'alerts_per_minute')}
WHERE minute >= now() - INTERVAL ${lit(a.minutes!)} MINUTE
GROUP BY minute, rule, gameServerId
ORDER BY minute, rule, gameServerId`,
  },
  {
    name: 'top-flagged-users',
    description: 'Dashboard: users with the most alerts',
    params: { limit: { description: 'rows', kind: 'int', default: 20, min: 1, max: 100000 } },
    sql: (db, a) => `SELECT userId, uniqExactMerge(alerts) AS alerts, minMerge(firstAlertAt) AS firstAlertAt,
  maxMerge(lastAlertAt) AS lastAlertAt, round(maxMerge(maxFactor), 2) AS maxFactor,
  maxMerge(maxAmountMicros) / 1000000 AS maxAmount, uniqExactMerge(flaggedIps) AS flaggedIps
FROM ${sqlTable(db, 'flagged_users')}
GROUP BY userId
ORDER BY alerts DESC, lastAlertAt DESC, userId
LIMIT ${lit(a.limit!)}`,
  },
];

export const findExample = (name: string): ExampleQuery | undefined =>
  EXAMPLE_QUERIES.find((q) => q.name === name);

/**
 * Checks and completes the arguments of an example (defaults, integer bounds, required strings)
 * and renders its SQL. Throws with every problem listed.
 */
export const renderExample = (
  q: ExampleQuery,
  database: string,
  raw: Record<string, string | undefined>,
): string => {
  const args: Record<string, string | number> = {};
  const problems: string[] = [];
  for (const [name, p] of Object.entries(q.params)) {
    const v = raw[name] ?? (p.default === undefined ? undefined : String(p.default));
    if (v === undefined) {
      problems.push(`--${name} is required (${p.description})`);
    } else if (p.kind === 'int') {
      const n = Number(v);
      if (
        !/^\d+$/.test(v) ||
        !Number.isSafeInteger(n) ||
        n < (p.min ?? 0) ||
        n > (p.max ?? Number.MAX_SAFE_INTEGER)
      ) {
        problems.push(
          `--${name} must be an integer between ${p.min ?? 0} and ${p.max ?? Number.MAX_SAFE_INTEGER}`,
        );
      } else {
        args[name] = n;
      }
    } else {
      args[name] = v;
    }
  }
  for (const name of Object.keys(raw)) {
    if (!(name in q.params)) problems.push(`--${name} is not a parameter of ${q.name}`);
  }
  if (problems.length > 0) throw new Error(`${q.name}: ${problems.join('; ')}`);
  return q.sql(database, args);
};
