// What a backtest reads from the archive (ClickHouse): the events that make up a window's trades
// and their users' history before it, streamed in topic order as TabSeparated and decoded here
// without a row object per line; the rule's archived versions; the window's archived alerts; the
// analysts' current verdicts. Then `runBacktest` puts them through backtest.ts.
import {
  Backtest,
  candidateFrom,
  ruleHistory,
  type BacktestReport,
  type BacktestWindow,
  type Verdict,
} from './backtest.ts';
import {
  classifyClickHouseError,
  queryRows,
  sqlLiteral,
  sqlTable,
  type ClickHouseClient,
} from './clickhouse.ts';
import type { GameEvent } from './events.ts';
import { checkRuleDefinition, type RuleDefinition } from './rules.ts';

const unescapeTsv = (s: string): string =>
  s.indexOf('\\') < 0
    ? s
    : s.replace(/\\(.)/g, (_, c: string) =>
        c === 't'
          ? '\t'
          : c === 'n'
            ? '\n'
            : c === 'r'
              ? '\r'
              : c === '0'
                ? '\0'
                : c === 'b'
                  ? '\b'
                  : c === 'f'
                    ? '\f'
                    : c,
      );

/** The columns read, in this order. */
const EVENT_COLUMNS = 'eventId, type, userId, tsMs, ip, amountMicros, currency, gameServerId';

/**
 * One TabSeparated line of EVENT_COLUMNS as the event the processor applied. Money comes back
 * from micro-units exactly (an integer divided by 10^6 is the double nearest the decimal).
 */
export const parseEventLine = (line: string): GameEvent => {
  // Field by field with indexOf: no array per line (a backtest decodes millions of them).
  const t1 = line.indexOf('\t');
  const t2 = line.indexOf('\t', t1 + 1);
  const t3 = line.indexOf('\t', t2 + 1);
  const t4 = line.indexOf('\t', t3 + 1);
  const t5 = line.indexOf('\t', t4 + 1);
  const t6 = line.indexOf('\t', t5 + 1);
  const t7 = line.indexOf('\t', t6 + 1);
  if (t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0 || t5 < 0 || t6 < 0 || t7 < 0 || line.indexOf('\t', t7 + 1) >= 0) {
    throw new Error(`expected 8 tab-separated fields: ${line.slice(0, 200)}`);
  }
  const eventId = line.slice(0, t1);
  const userId = unescapeTsv(line.slice(t2 + 1, t3));
  const ts = Number(line.slice(t3 + 1, t4));
  const gameServerId = unescapeTsv(line.slice(t7 + 1));
  if (line.startsWith('login', t1 + 1)) {
    return { eventId, type: 'login', userId, ts, ip: line.slice(t4 + 1, t5), gameServerId, receivedAt: 0 };
  }
  return {
    eventId,
    type: 'trade',
    userId,
    ts,
    amount: Number(line.slice(t5 + 1, t6)) / 1e6,
    currency: unescapeTsv(line.slice(t6 + 1, t7)),
    gameServerId,
    receivedAt: 0,
  };
};

export interface BacktestSource {
  client: ClickHouseClient;
  database: string;
}

/**
 * The events to replay: every event of the users who traded in the window, up to a minute past
 * the last arrival of a window event (later events cannot change what came before them), in the
 * order the topic held them first (event_first_positions: a re-sent event sorts beside its first
 * copy, where the processor ignored it as a duplicate). Rows archived without topic coordinates
 * (0/0) come first, by arrival.
 */
const eventsQuery = (db: string, w: BacktestWindow, select: string, order: boolean): string => {
  const events = sqlTable(db, 'events');
  const inWindow = `tsMs >= ${sqlLiteral(w.from)} AND tsMs < ${sqlLiteral(w.to)}`;
  const rows = `SELECT ${order ? `${EVENT_COLUMNS}, receivedAtMs` : 'eventId'} FROM ${events}
WHERE userId IN (SELECT userId FROM ${events} WHERE type = 'trade' AND ${inWindow})
  AND receivedAtMs <= (SELECT max(receivedAtMs) + 60000 FROM ${events} WHERE ${inWindow})`;
  if (!order) return `SELECT ${select} FROM (${rows})`;
  return `SELECT ${select} FROM (${rows})
ANY INNER JOIN (
  SELECT eventId, minMerge(kafkaPartition) AS firstPartition, minMerge(kafkaOffset) AS firstOffset
  FROM ${sqlTable(db, 'event_first_positions')} GROUP BY eventId
) USING eventId
ORDER BY firstPartition, firstOffset, receivedAtMs, eventId`;
};

/** Streams the window's events in chunks to `onEvents`; resolves with how many. */
export const streamWindowEvents = async (
  s: BacktestSource,
  w: BacktestWindow,
  onEvents: (events: GameEvent[]) => void,
): Promise<number> => {
  let stream: NodeJS.ReadableStream;
  try {
    ({ stream } = await s.client.exec({
      query: `${eventsQuery(s.database, w, EVENT_COLUMNS, true)}\nFORMAT TabSeparated`,
    }));
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  const decoder = new TextDecoder();
  let rest = '';
  let n = 0;
  for await (const chunk of stream) {
    const text = rest + decoder.decode(chunk as Buffer, { stream: true });
    const events: GameEvent[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      events.push(parseEventLine(text.slice(start, nl)));
      start = nl + 1;
    }
    rest = text.slice(start);
    n += events.length;
    onEvents(events);
  }
  if (rest.length > 0) throw new Error('the events stream ended inside a row');
  return n;
};

export const countWindowEvents = async (s: BacktestSource, w: BacktestWindow): Promise<number> => {
  const rows = await queryRows<{ n: string }>(s.client, eventsQuery(s.database, w, 'count() AS n', false));
  return Number(rows[0]?.n ?? 0);
};

interface RuleRow {
  ruleId: string;
  version: number;
  type: string;
  mode: string;
  params: string;
  effectiveFromMs: string;
  author: string;
  reason: string;
  createdAtMs: string;
}

/** Every archived version of `ruleId` (rule_versions, the audit trail). */
export const archivedRuleVersions = async (s: BacktestSource, ruleId: string): Promise<RuleDefinition[]> => {
  const rows = await queryRows<RuleRow>(
    s.client,
    `SELECT ruleId, version, type, mode, params, effectiveFromMs, author, reason, createdAtMs
FROM ${sqlTable(s.database, 'rule_versions')} FINAL WHERE ruleId = ${sqlLiteral(ruleId)} ORDER BY version`,
  );
  return rows.map((r) => {
    const checked = checkRuleDefinition({
      ruleId: r.ruleId,
      version: Number(r.version),
      type: r.type,
      mode: r.mode,
      params: JSON.parse(r.params) as unknown,
      effectiveFrom: Number(r.effectiveFromMs),
      author: r.author,
      reason: r.reason,
      createdAt: Number(r.createdAtMs),
    });
    if (!checked.ok)
      throw new Error(`archived rule ${r.ruleId}@${r.version} is invalid: ${checked.problems.join('; ')}`);
    return checked.definition;
  });
};

export interface BacktestProgress {
  events: number;
  /** Events the run will replay; undefined unless asked for (counting them costs a scan). */
  total: number | undefined;
}

/**
 * Runs a backtest of the candidate in `ruleFile` (parsed JSON) over the window, reporting
 * progress as events are replayed (with their total when `countFirst`: a progress bar). Throws
 * RuleInvalidError for a bad candidate or window.
 */
export const runBacktest = async (
  s: BacktestSource,
  ruleFile: unknown,
  w: BacktestWindow,
  onProgress: (p: BacktestProgress) => void = () => undefined,
  countFirst = false,
): Promise<BacktestReport & { ms: number; eventsPerSec: number }> => {
  const started = performance.now();
  const ruleId = (ruleFile as { ruleId?: unknown } | null)?.ruleId;
  const history =
    typeof ruleId === 'string' ? ruleHistory(ruleId, await archivedRuleVersions(s, ruleId)) : [];
  const candidate = candidateFrom(ruleFile, history);
  const backtest = new Backtest(candidate, history, w);
  const [total, archived, labels] = await Promise.all([
    countFirst ? countWindowEvents(s, w) : undefined,
    queryRows<{ alertId: string; ruleVersion: number; tradeEventId: string }>(
      s.client,
      `SELECT alertId, ruleVersion, tradeEventId FROM ${sqlTable(s.database, 'alerts')} FINAL
WHERE rule = ${sqlLiteral(candidate.ruleId)} AND tradeTsMs >= ${sqlLiteral(w.from)} AND tradeTsMs < ${sqlLiteral(w.to)}`,
    ),
    queryRows<{ alertId: string; label: string }>(
      s.client,
      `SELECT alertId, argMax(label, labelledAtMs) AS label FROM ${sqlTable(s.database, 'alert_labels')} GROUP BY alertId`,
    ),
  ]);
  onProgress({ events: 0, total });
  await streamWindowEvents(s, w, (events) => {
    backtest.apply(events);
    onProgress({ events: backtest.events, total });
  });
  const verdicts = new Map<string, Verdict>();
  for (const l of labels)
    if (l.label === 'confirmed_fraud' || l.label === 'false_positive') verdicts.set(l.alertId, l.label);
  const report = backtest.report(
    archived.map((a) => ({ ...a, ruleVersion: Number(a.ruleVersion) })),
    verdicts,
  );
  const ms = performance.now() - started;
  return { ...report, ms: Math.round(ms), eventsPerSec: Math.round(report.events / (ms / 1000)) };
};
