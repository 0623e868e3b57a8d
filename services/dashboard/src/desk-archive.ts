// What the desk reads from the archive (ClickHouse): pages of alerts, a user's events and
// alerts, the aggregates of the overview, label counts, and where the archive ends on the alerts
// topic. Written against the DeskArchive port; `ClickHouseDeskArchive` implements it. Money is
// archived as micro-units and converted back here; every value put into SQL goes through
// sqlLiteral (ClickHouse 18.16 has no query parameters).
import type { ClickHouseClient } from '@tradewatch/shared/clickhouse';
import { queryRows, sqlLiteral, sqlTable } from '@tradewatch/shared/clickhouse';
import type { Alert } from '@tradewatch/shared/alerts';
import type { ArchivedEvent, ComparedTrade } from './api-types.ts';

export type { ComparedTrade } from './api-types.ts';

export interface AlertFilter {
  limit: number;
  userId?: string | undefined;
  gameServerId?: string | undefined;
  minAmount?: number | undefined;
  maxAmount?: number | undefined;
  /** Only these alerts (a label filter, resolved by the desk). */
  onlyIds?: ReadonlySet<string> | undefined;
  /** None of these alerts. */
  exceptIds?: ReadonlySet<string> | undefined;
}

export interface LabelCounts {
  rule: string;
  alerts: number;
  confirmed: number;
  falsePositive: number;
  needsReview: number;
}

export interface DeskArchive {
  alerts(filter: AlertFilter): Promise<Alert[]>;
  alertById(alertId: string): Promise<Alert | undefined>;
  /** Per alerts partition, the offset after the last archived alert (undefined: none archived). */
  archivedEnds(): Promise<Map<number, number>>;
  userEvents(userId: string, limit: number): Promise<ArchivedEvent[]>;
  hourlyAlerts(sinceMs: number): Promise<{ hour: number; alerts: number }[]>;
  topUsers(limit: number): Promise<{ userId: string; alerts: number }[]>;
  topGameServers(limit: number): Promise<{ gameServerId: string; alerts: number }[]>;
  labelCounts(): Promise<LabelCounts[]>;
  /** Alerts archived per rule version, on `alerts` (active) and `alerts_shadow`. */
  ruleAlertCounts(): Promise<RuleAlertCount[]>;
  /** The rule's latest trades flagged by an active or a shadow version, side by side. */
  shadowComparison(ruleId: string, limit: number): Promise<ComparedTrade[]>;
}

export interface RuleAlertCount {
  rule: string;
  ruleVersion: number;
  alerts: number;
  shadowAlerts: number;
}

interface AlertRow {
  alertId: string;
  rule: string;
  ruleVersion: number;
  userId: string;
  tradeEventId: string;
  tradeTsMs: string;
  amountMicros: string;
  baselineMicros: string;
  factor: number;
  ip: string;
  knownIps: string[];
  previousTrades: number;
  gameServerId: string;
  detectedAtMs: string;
}

const micros = (text: string): number => Number(text) / 1e6;

const toAlert = (r: AlertRow): Alert => ({
  alertId: r.alertId,
  rule: r.rule,
  ruleVersion: Number(r.ruleVersion),
  userId: r.userId,
  tradeEventId: r.tradeEventId,
  tradeTs: Number(r.tradeTsMs),
  amount: micros(r.amountMicros),
  baseline: micros(r.baselineMicros),
  factor: Number(r.factor),
  ip: r.ip,
  knownIps: r.knownIps,
  previousTrades: Number(r.previousTrades),
  gameServerId: r.gameServerId,
  detectedAt: Number(r.detectedAtMs),
});

const ALERT_COLUMNS =
  'alertId, rule, ruleVersion, userId, tradeEventId, tradeTsMs, amountMicros, baselineMicros, factor, ip, knownIps, previousTrades, gameServerId, detectedAtMs';

const inList = (ids: ReadonlySet<string>): string =>
  sqlLiteral([...ids])
    .replace(/^\[/, '(')
    .replace(/\]$/, ')');

export class ClickHouseDeskArchive implements DeskArchive {
  private readonly ch: ClickHouseClient;
  private readonly db: string;

  constructor(client: ClickHouseClient, database: string) {
    this.ch = client;
    this.db = database;
  }

  private t(table: string): string {
    return sqlTable(this.db, table);
  }

  async alerts(f: AlertFilter): Promise<Alert[]> {
    if (f.onlyIds !== undefined && f.onlyIds.size === 0) return [];
    const where: string[] = [];
    if (f.userId !== undefined) where.push(`userId = ${sqlLiteral(f.userId)}`);
    if (f.gameServerId !== undefined) where.push(`gameServerId = ${sqlLiteral(f.gameServerId)}`);
    if (f.minAmount !== undefined) where.push(`amountMicros >= ${Math.ceil(f.minAmount * 1e6)}`);
    if (f.maxAmount !== undefined) where.push(`amountMicros <= ${Math.floor(f.maxAmount * 1e6)}`);
    if (f.onlyIds !== undefined) where.push(`alertId IN ${inList(f.onlyIds)}`);
    if (f.exceptIds !== undefined && f.exceptIds.size > 0)
      where.push(`alertId NOT IN ${inList(f.exceptIds)}`);
    const rows = await queryRows<AlertRow>(
      this.ch,
      `SELECT ${ALERT_COLUMNS} FROM ${this.t('alerts')} FINAL
${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
ORDER BY detectedAtMs DESC, alertId DESC
LIMIT ${Math.max(0, Math.floor(f.limit))}`,
    );
    return rows.map(toAlert);
  }

  async alertById(alertId: string): Promise<Alert | undefined> {
    const rows = await queryRows<AlertRow>(
      this.ch,
      `SELECT ${ALERT_COLUMNS} FROM ${this.t('alerts')} FINAL WHERE alertId = ${sqlLiteral(alertId)} LIMIT 1`,
    );
    return rows[0] === undefined ? undefined : toAlert(rows[0]);
  }

  async archivedEnds(): Promise<Map<number, number>> {
    const rows = await queryRows<{ p: number; o: string }>(
      this.ch,
      `SELECT kafkaPartition AS p, max(kafkaOffset) AS o FROM ${this.t('alerts')} GROUP BY kafkaPartition`,
    );
    return new Map(rows.map((r) => [Number(r.p), Number(r.o) + 1]));
  }

  async userEvents(userId: string, limit: number): Promise<ArchivedEvent[]> {
    const rows = await queryRows<{
      eventId: string;
      type: 'login' | 'trade';
      tsMs: string;
      ip: string;
      amountMicros: string;
      currency: string;
      itemId: string;
      counterpartyId: string;
      gameServerId: string;
      receivedAtMs: string;
    }>(
      this.ch,
      `SELECT eventId, type, tsMs, ip, amountMicros, currency, itemId, counterpartyId, gameServerId, receivedAtMs
FROM ${this.t('events')} FINAL WHERE userId = ${sqlLiteral(userId)}
ORDER BY tsMs DESC, receivedAtMs DESC LIMIT ${Math.floor(limit)}`,
    );
    return rows.map((r) => ({
      eventId: r.eventId,
      type: r.type,
      ts: Number(r.tsMs),
      ip: r.ip,
      amount: r.type === 'trade' ? micros(r.amountMicros) : null,
      currency: r.currency,
      itemId: r.itemId,
      counterpartyId: r.counterpartyId,
      gameServerId: r.gameServerId,
      receivedAt: Number(r.receivedAtMs),
    }));
  }

  async hourlyAlerts(sinceMs: number): Promise<{ hour: number; alerts: number }[]> {
    const rows = await queryRows<{ hour: string; alerts: string }>(
      this.ch,
      `SELECT toUInt32(toStartOfHour(minute)) AS hour, uniqExactMerge(alerts) AS alerts
FROM ${this.t('alerts_per_minute')}
WHERE minute >= toDateTime(${Math.floor(sinceMs / 1000)}, 'UTC')
GROUP BY hour ORDER BY hour`,
    );
    return rows.map((r) => ({ hour: Number(r.hour), alerts: Number(r.alerts) }));
  }

  async topUsers(limit: number): Promise<{ userId: string; alerts: number }[]> {
    const rows = await queryRows<{ userId: string; alerts: string }>(
      this.ch,
      `SELECT userId, uniqExactMerge(alerts) AS alerts FROM ${this.t('flagged_users')}
GROUP BY userId ORDER BY alerts DESC, userId LIMIT ${Math.floor(limit)}`,
    );
    return rows.map((r) => ({ userId: r.userId, alerts: Number(r.alerts) }));
  }

  async topGameServers(limit: number): Promise<{ gameServerId: string; alerts: number }[]> {
    const rows = await queryRows<{ gameServerId: string; alerts: string }>(
      this.ch,
      `SELECT gameServerId, uniqExactMerge(alerts) AS alerts FROM ${this.t('alerts_per_minute')}
GROUP BY gameServerId ORDER BY alerts DESC, gameServerId LIMIT ${Math.floor(limit)}`,
    );
    return rows.map((r) => ({ gameServerId: r.gameServerId, alerts: Number(r.alerts) }));
  }

  async ruleAlertCounts(): Promise<RuleAlertCount[]> {
    const count = (table: string, column: string) =>
      `SELECT rule, ruleVersion, uniqExact(alertId) AS ${column} FROM ${sqlTable(this.db, table)} GROUP BY rule, ruleVersion`;
    const [active, shadow] = await Promise.all([
      queryRows<{ rule: string; ruleVersion: number; alerts: string }>(this.ch, count('alerts', 'alerts')),
      queryRows<{ rule: string; ruleVersion: number; shadowAlerts: string }>(
        this.ch,
        count('alerts_shadow', 'shadowAlerts'),
      ),
    ]);
    const out = new Map<string, RuleAlertCount>();
    const at = (rule: string, v: number) => {
      const key = `${rule}/${v}`;
      let c = out.get(key);
      if (c === undefined) {
        c = { rule, ruleVersion: Number(v), alerts: 0, shadowAlerts: 0 };
        out.set(key, c);
      }
      return c;
    };
    for (const r of active) at(r.rule, r.ruleVersion).alerts = Number(r.alerts);
    for (const r of shadow) at(r.rule, r.ruleVersion).shadowAlerts = Number(r.shadowAlerts);
    return [...out.values()].sort((a, b) =>
      a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : b.ruleVersion - a.ruleVersion,
    );
  }

  async shadowComparison(ruleId: string, limit: number): Promise<ComparedTrade[]> {
    const side = (table: string, source: string) =>
      `SELECT tradeEventId, userId, amountMicros, tradeTsMs, ruleVersion, ${sqlLiteral(source)} AS source
  FROM ${sqlTable(this.db, table)} FINAL WHERE rule = ${sqlLiteral(ruleId)}`;
    const rows = await queryRows<{
      tradeEventId: string;
      userId: string;
      amountMicros: string;
      tradeTsMs: string;
      activeVersions: number[];
      shadowVersions: number[];
    }>(
      this.ch,
      `SELECT tradeEventId, any(userId) AS userId, any(amountMicros) AS amountMicros, max(tradeTsMs) AS tradeTsMs,
  groupUniqArrayIf(ruleVersion, source = 'active') AS activeVersions,
  groupUniqArrayIf(ruleVersion, source = 'shadow') AS shadowVersions
FROM (${side('alerts', 'active')}
  UNION ALL
  ${side('alerts_shadow', 'shadow')})
GROUP BY tradeEventId
ORDER BY tradeTsMs DESC, tradeEventId
LIMIT ${sqlLiteral(limit)}`,
    );
    return rows.map((r) => ({
      tradeEventId: r.tradeEventId,
      userId: r.userId,
      tradeTs: Number(r.tradeTsMs),
      amount: micros(r.amountMicros),
      activeVersions: r.activeVersions.map(Number).sort((a, b) => a - b),
      shadowVersions: r.shadowVersions.map(Number).sort((a, b) => a - b),
    }));
  }

  async labelCounts(): Promise<LabelCounts[]> {
    // The label in force of each alert is its latest; alerts without one count in `alerts` only.
    const rows = await queryRows<{
      rule: string;
      alerts: string;
      confirmed: string;
      falsePositive: string;
      needsReview: string;
    }>(
      this.ch,
      `SELECT a.rule AS rule, count() AS alerts,
  countIf(l.label = 'confirmed_fraud') AS confirmed,
  countIf(l.label = 'false_positive') AS falsePositive,
  countIf(l.label = 'needs_review') AS needsReview
FROM (SELECT DISTINCT alertId, rule FROM ${this.t('alerts')}) AS a
ANY LEFT JOIN (
  SELECT alertId, toString(argMax(label, labelledAtMs)) AS label
  FROM ${this.t('alert_labels')} FINAL GROUP BY alertId
) AS l USING alertId
GROUP BY rule ORDER BY rule`,
    );
    return rows.map((r) => ({
      rule: r.rule,
      alerts: Number(r.alerts),
      confirmed: Number(r.confirmed),
      falsePositive: Number(r.falsePositive),
      needsReview: Number(r.needsReview),
    }));
  }
}
