// In-memory implementations of the desk's own ports (archive, label publisher, state locator,
// rates) for API tests without I/O, and a desk built on them. The feed is the real AlertFeed,
// fed records directly as the Kafka tail would.
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Alert } from '@tradewatch/shared/alerts';
import { deriveAlertId, RULE_ID } from '@tradewatch/shared/alerts';
import { encodeLabel, type AlertLabel } from '@tradewatch/shared/labels';
import { AlertFeed } from '../../src/alert-feed.ts';
import { buildDeskApp } from '../../src/app.ts';
import type { ArchivedEvent, RatePoint } from '../../src/api-types.ts';
import type { BacktestReport, BacktestWindow } from '@tradewatch/shared/backtest';
import { RuleBook, type RuleDefinition } from '@tradewatch/shared/rules';
import { BacktestJobs, type BacktestRunner } from '../../src/backtest-jobs.ts';
import type {
  AlertFilter,
  ComparedTrade,
  DeskArchive,
  LabelCounts,
  RuleAlertCount,
} from '../../src/desk-archive.ts';
import type { RuleRegistry } from '../../src/rule-registry.ts';
import type { LabelPublisher } from '../../src/label-publisher.ts';
import type { LocatedState, UserStateLocator } from '../../src/user-state-locator.ts';
import { parseUsers } from '../../src/users.ts';

export const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
export const USERS = 'vera:viewer:viewer-token-1,ana:analyst:analyst-token-1,adam:admin:admin-token-1';
export const BEARER = {
  viewer: { authorization: 'Bearer viewer-token-1' },
  analyst: { authorization: 'Bearer analyst-token-1' },
  admin: { authorization: 'Bearer admin-token-1' },
};

export const makeAlert = (i: number, extra: Partial<Alert> = {}): Alert => {
  const tradeEventId = extra.tradeEventId ?? `trade-${i}`;
  return {
    alertId: deriveAlertId(RULE_ID, tradeEventId),
    rule: RULE_ID,
    ruleVersion: 1,
    userId: `user-${i % 7}`,
    tradeEventId,
    tradeTs: NOW - 100000 + i,
    amount: 1000 + i,
    baseline: 100,
    factor: (1000 + i) / 100,
    ip: '203.0.113.9',
    knownIps: ['198.51.100.1', '198.51.100.2'],
    previousTrades: 20,
    gameServerId: i % 2 === 0 ? 'eu-1' : 'us-1',
    detectedAt: NOW - 100000 + i,
    ...extra,
  };
};

/** The archive as a list of alerts with their topic coordinates. */
export class MemoryArchive implements DeskArchive {
  readonly rows: { alert: Alert; partition: number; offset: number }[] = [];
  /** Alerts of shadow rule versions (alerts_shadow). */
  readonly shadowRows: Alert[] = [];
  readonly events: (ArchivedEvent & { userId: string })[] = [];
  labelRows: AlertLabel[] = [];
  failing = false;

  private check(): void {
    if (this.failing) throw Object.assign(new Error('archive down'), { retriable: true });
  }

  alerts(f: AlertFilter): Promise<Alert[]> {
    this.check();
    const out = this.rows
      .map((r) => r.alert)
      .filter(
        (a) =>
          (f.userId === undefined || a.userId === f.userId) &&
          (f.gameServerId === undefined || a.gameServerId === f.gameServerId) &&
          (f.minAmount === undefined || a.amount >= f.minAmount) &&
          (f.maxAmount === undefined || a.amount <= f.maxAmount) &&
          (f.onlyIds === undefined || f.onlyIds.has(a.alertId)) &&
          (f.exceptIds === undefined || !f.exceptIds.has(a.alertId)),
      )
      .sort((a, b) => b.detectedAt - a.detectedAt);
    return Promise.resolve(out.slice(0, f.limit));
  }

  alertById(alertId: string): Promise<Alert | undefined> {
    this.check();
    return Promise.resolve(this.rows.find((r) => r.alert.alertId === alertId)?.alert);
  }

  archivedEnds(): Promise<Map<number, number>> {
    this.check();
    const ends = new Map<number, number>();
    for (const r of this.rows) ends.set(r.partition, Math.max(ends.get(r.partition) ?? 0, r.offset + 1));
    return Promise.resolve(ends);
  }

  userEvents(userId: string, limit: number): Promise<ArchivedEvent[]> {
    this.check();
    return Promise.resolve(
      this.events
        .filter((e) => e.userId === userId)
        .sort((a, b) => b.ts - a.ts)
        .slice(0, limit)
        .map(({ userId: _u, ...e }) => e),
    );
  }

  hourlyAlerts(sinceMs: number): Promise<{ hour: number; alerts: number }[]> {
    const byHour = new Map<number, number>();
    for (const { alert } of this.rows) {
      if (alert.detectedAt < sinceMs) continue;
      const hour = Math.floor(alert.detectedAt / 3600000) * 3600;
      byHour.set(hour, (byHour.get(hour) ?? 0) + 1);
    }
    return Promise.resolve(
      [...byHour].sort((a, b) => a[0] - b[0]).map(([hour, alerts]) => ({ hour, alerts })),
    );
  }

  topUsers(limit: number): Promise<{ userId: string; alerts: number }[]> {
    return Promise.resolve(this.top((a) => a.userId, limit).map(([userId, alerts]) => ({ userId, alerts })));
  }

  topGameServers(limit: number): Promise<{ gameServerId: string; alerts: number }[]> {
    return Promise.resolve(
      this.top((a) => a.gameServerId, limit).map(([gameServerId, alerts]) => ({ gameServerId, alerts })),
    );
  }

  private top(key: (a: Alert) => string, limit: number): [string, number][] {
    const n = new Map<string, number>();
    for (const { alert } of this.rows) n.set(key(alert), (n.get(key(alert)) ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
  }

  ruleAlertCounts(): Promise<RuleAlertCount[]> {
    this.check();
    const counts = new Map<string, RuleAlertCount>();
    const at = (a: Alert) => {
      const key = `${a.rule}/${a.ruleVersion}`;
      const c = counts.get(key) ?? { rule: a.rule, ruleVersion: a.ruleVersion, alerts: 0, shadowAlerts: 0 };
      counts.set(key, c);
      return c;
    };
    for (const { alert } of this.rows) at(alert).alerts++;
    for (const alert of this.shadowRows) at(alert).shadowAlerts++;
    return Promise.resolve([...counts.values()]);
  }

  shadowComparison(ruleId: string, limit: number): Promise<ComparedTrade[]> {
    this.check();
    const trades = new Map<string, ComparedTrade>();
    const at = (a: Alert) => {
      const t = trades.get(a.tradeEventId) ?? {
        tradeEventId: a.tradeEventId,
        userId: a.userId,
        tradeTs: a.tradeTs,
        amount: a.amount,
        activeVersions: [],
        shadowVersions: [],
      };
      trades.set(a.tradeEventId, t);
      return t;
    };
    for (const { alert } of this.rows)
      if (alert.rule === ruleId) at(alert).activeVersions.push(alert.ruleVersion);
    for (const alert of this.shadowRows)
      if (alert.rule === ruleId) at(alert).shadowVersions.push(alert.ruleVersion);
    return Promise.resolve([...trades.values()].sort((a, b) => b.tradeTs - a.tradeTs).slice(0, limit));
  }

  labelCounts(): Promise<LabelCounts[]> {
    const latest = new Map<string, AlertLabel>();
    for (const l of this.labelRows) {
      const cur = latest.get(l.alertId);
      if (cur === undefined || l.labelledAt >= cur.labelledAt) latest.set(l.alertId, l);
    }
    const rules = new Map<string, LabelCounts>();
    for (const { alert } of this.rows) {
      const c = rules.get(alert.rule) ?? {
        rule: alert.rule,
        alerts: 0,
        confirmed: 0,
        falsePositive: 0,
        needsReview: 0,
      };
      c.alerts++;
      const l = latest.get(alert.alertId)?.label;
      if (l === 'confirmed_fraud') c.confirmed++;
      if (l === 'false_positive') c.falsePositive++;
      if (l === 'needs_review') c.needsReview++;
      rules.set(alert.rule, c);
    }
    return Promise.resolve([...rules.values()]);
  }
}

/** Publishes a label the way Kafka would hand it back: onto the feed's labels stream, and archived. */
export class MemoryLabels implements LabelPublisher {
  readonly published: AlertLabel[] = [];
  private offset = 0;
  private readonly feed: () => AlertFeed;
  private readonly archive: MemoryArchive;
  constructor(feed: () => AlertFeed, archive: MemoryArchive) {
    this.feed = feed;
    this.archive = archive;
  }
  publish(label: AlertLabel): Promise<void> {
    this.published.push(label);
    this.archive.labelRows.push(label);
    this.feed().addLabel({
      topic: 'alert-labels',
      partition: 0,
      offset: this.offset++,
      key: label.alertId,
      value: Buffer.from(encodeLabel(label)),
    });
    return Promise.resolve();
  }
}

/** The rules topic as a list: what `change` makes is stored at once (the seed included). */
export class MemoryRules implements RuleRegistry {
  readonly book = new RuleBook();
  written: RuleDefinition[] = [];
  versions(): Promise<RuleDefinition[]> {
    return Promise.resolve(this.book.all());
  }
  change(make: (versions: readonly RuleDefinition[]) => RuleDefinition): Promise<RuleDefinition> {
    try {
      const d = make(this.book.all());
      this.book.add(d);
      this.written.push(d);
      return Promise.resolve(d);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** A backtest runner that reports progress in two steps and answers `report`, or fails. */
export const fakeBacktestRunner =
  (report: (rule: unknown, w: BacktestWindow) => BacktestReport): BacktestRunner =>
  async (rule, window, onProgress) => {
    onProgress({ events: 0, total: 2 });
    await new Promise((r) => setImmediate(r));
    onProgress({ events: 2, total: 2 });
    return { ...report(rule, window), ms: 1, eventsPerSec: 2000 };
  };

export class FixedStates implements UserStateLocator {
  answer: LocatedState = {
    state: { sessionIp: '203.0.113.9', knownIps: ['198.51.100.1'], trades: [100, 100, 120], median: 100 },
    owner: { partition: 2, instance: 'p1', status: 'running' },
  };
  locate(): Promise<LocatedState> {
    return Promise.resolve(this.answer);
  }
}

export interface TestDesk {
  app: FastifyInstance;
  feed: AlertFeed;
  archive: MemoryArchive;
  labels: MemoryLabels;
  states: FixedStates;
  rules: MemoryRules;
  backtests: BacktestJobs;
  /** Puts an alert on the feed (partition, offset) as the Kafka tail would. */
  commitAlert(alert: Alert, partition: number, offset: number): void;
}

export const buildTestDesk = async (
  o: {
    capacity?: number;
    alertPartitions?: number;
    starts?: number[];
    rates?: RatePoint[];
    backtest?: BacktestRunner;
  } = {},
): Promise<TestDesk> => {
  const partitions = o.alertPartitions ?? 3;
  const starts = o.starts ?? new Array<number>(partitions).fill(0);
  const feed = new AlertFeed({
    capacity: o.capacity ?? 1000,
    starts: { alerts: starts, labels: [0] },
    liveFrom: starts,
  });
  const archive = new MemoryArchive();
  const labels = new MemoryLabels(() => feed, archive);
  const states = new FixedStates();
  const rules = new MemoryRules();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const backtests = new BacktestJobs(
    o.backtest ?? (() => Promise.reject(new Error('no backtest in this test'))),
    log,
    () => NOW,
  );
  const app = await buildDeskApp({
    log,
    users: parseUsers(USERS),
    sessionSecret: Buffer.alloc(32, 7),
    sessionTtlMs: 3600000,
    secureCookies: false,
    maxPageSize: 1000,
    staticDir: undefined,
    feed,
    archive,
    labels,
    states,
    rates: { points: () => o.rates ?? [{ t: 1, events: 10, alerts: 1 }] },
    rules,
    backtests,
    now: () => NOW,
  });
  const commitAlert = (alert: Alert, partition: number, offset: number) =>
    feed.addAlert({
      topic: 'alerts',
      partition,
      offset,
      key: alert.userId,
      value: Buffer.from(JSON.stringify(alert)),
    });
  return { app, feed, archive, labels, states, rules, backtests, commitAlert };
};

/**
 * Reads Server-Sent Events from a fetch response (test side only: the browser uses EventSource).
 * Leaving the loop early closes the connection, as a browser closing the page does.
 */
export async function* sseEvents(
  res: Response,
): AsyncGenerator<{ event: string; id: string | undefined; data: string }> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') event = v;
          else if (field === 'id') id = v;
          else if (field === 'data') data.push(v);
        }
        if (data.length > 0) yield { event, id, data: data.join('\n') };
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
