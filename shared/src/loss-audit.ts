// The loss audit's reconciliation, pure: given what each stage holds for a window of receipt
// times, how many events (and alerts) each stage has, which are missing, which are still on
// their way, and which are there without being expected. A difference is a loss only when the
// stage that should hold the item has already moved past it: the sink's committed offset is past
// a record that is not in the archive, or the topic holds fewer events than the gateway counted
// as accepted. Everything else below a stage's position is in flight, and extra items (copies
// from a crash between publish and ledger, rows whose records left the topic's retention) are
// reported, not failed.

/** A record of the events topic received in the window: its first copy on the topic. */
export interface TopicEvent {
  eventId: string;
  partition: number;
  offset: number;
}

/** An alert on the alerts topic raised for an event of the window. */
export interface TopicAlert {
  alertId: string;
  tradeEventId: string;
  partition: number;
  offset: number;
}

export interface AuditInput {
  /** Events the gateway counted as accepted in the window (its per-minute ledger counts). */
  accepted: number;
  /** The events topic's records of the window, one per eventId. */
  topicEvents: readonly TopicEvent[];
  /** Further copies of those eventIds on the topic. */
  topicCopies: number;
  /** The processors' committed offsets on the events topic, by partition. */
  processorCommitted: ReadonlyMap<number, number>;
  /** The sink's committed offsets on the events topic, by partition. */
  sinkEventsCommitted: ReadonlyMap<number, number>;
  /** eventIds of the archive's rows received in the window. */
  archivedEvents: ReadonlySet<string>;
  /** The alerts topic's alerts whose trade is an event of the window. */
  topicAlerts: readonly TopicAlert[];
  /** The sink's committed offsets on the alerts topic, by partition. */
  sinkAlertsCommitted: ReadonlyMap<number, number>;
  /** alertIds of the archive's alert rows (any window: an alert's row has no receipt time). */
  archivedAlerts: ReadonlySet<string>;
}

export interface StageRow {
  stage: string;
  count: number;
  /** Expected here, and the stage is past it: lost. */
  missing: number;
  /** Expected here, and the stage has not reached it yet. */
  inFlight: number;
  /** Here without being expected: not a loss. */
  extra: number;
}

export interface AuditResult {
  rows: StageRow[];
  /** Some ids of what each stage lost (at most 20 per stage). */
  lost: { stage: string; ids: string[] }[];
  ok: boolean;
}

export const STAGES = {
  accepted: 'accepted by the gateway',
  topic: 'records on the events topic',
  applied: 'applied by the processors',
  archivedEvents: 'rows in the events archive',
  alerts: 'alerts on the alerts topic',
  archivedAlerts: 'rows in the alerts archive',
} as const;

const below = (committed: ReadonlyMap<number, number>, partition: number, offset: number): boolean =>
  offset < (committed.get(partition) ?? 0);

export const reconcile = (input: AuditInput): AuditResult => {
  const rows: StageRow[] = [];
  const lost: AuditResult['lost'] = [];

  rows.push({ stage: STAGES.accepted, count: input.accepted, missing: 0, inFlight: 0, extra: 0 });

  const onTopic = input.topicEvents.length;
  const topicMissing = Math.max(0, input.accepted - onTopic);
  rows.push({
    stage: STAGES.topic,
    count: onTopic,
    missing: topicMissing,
    inFlight: 0,
    extra: Math.max(0, onTopic - input.accepted) + input.topicCopies,
  });
  if (topicMissing > 0) lost.push({ stage: STAGES.topic, ids: [] });

  const applied = input.topicEvents.filter((e) => below(input.processorCommitted, e.partition, e.offset));
  rows.push({
    stage: STAGES.applied,
    count: applied.length,
    missing: 0,
    inFlight: onTopic - applied.length,
    extra: 0,
  });

  const topicIds = new Set(input.topicEvents.map((e) => e.eventId));
  const notArchived = input.topicEvents.filter((e) => !input.archivedEvents.has(e.eventId));
  const eventsLost = notArchived.filter((e) => below(input.sinkEventsCommitted, e.partition, e.offset));
  let archivedExtra = 0;
  for (const id of input.archivedEvents) if (!topicIds.has(id)) archivedExtra++;
  rows.push({
    stage: STAGES.archivedEvents,
    count: input.archivedEvents.size,
    missing: eventsLost.length,
    inFlight: notArchived.length - eventsLost.length,
    extra: archivedExtra,
  });
  if (eventsLost.length > 0) {
    lost.push({ stage: STAGES.archivedEvents, ids: eventsLost.slice(0, 20).map((e) => e.eventId) });
  }

  const alerts = new Map<string, TopicAlert>();
  for (const a of input.topicAlerts) if (!alerts.has(a.alertId)) alerts.set(a.alertId, a);
  rows.push({
    stage: STAGES.alerts,
    count: alerts.size,
    missing: 0,
    inFlight: 0,
    extra: input.topicAlerts.length - alerts.size,
  });

  const alertsNotArchived = [...alerts.values()].filter((a) => !input.archivedAlerts.has(a.alertId));
  const alertsLost = alertsNotArchived.filter((a) => below(input.sinkAlertsCommitted, a.partition, a.offset));
  rows.push({
    stage: STAGES.archivedAlerts,
    count: alerts.size - alertsNotArchived.length,
    missing: alertsLost.length,
    inFlight: alertsNotArchived.length - alertsLost.length,
    extra: 0,
  });
  if (alertsLost.length > 0) {
    lost.push({ stage: STAGES.archivedAlerts, ids: alertsLost.slice(0, 20).map((a) => a.alertId) });
  }

  return { rows, lost, ok: rows.every((r) => r.missing === 0) };
};

/** The result as one plain-text table, then what was lost. */
export const formatAudit = (result: AuditResult, window: { from: number; to: number }): string => {
  const head = ['stage', 'count', 'missing', 'in flight', 'extra'];
  const body = result.rows.map((r) => [
    r.stage,
    String(r.count),
    r.missing > 0 ? `${r.missing} LOST` : '0',
    String(r.inFlight),
    String(r.extra),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `loss audit of events received from ${new Date(window.from).toISOString()} to ${new Date(window.to).toISOString()}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ];
  for (const l of result.lost) {
    out.push(
      l.ids.length === 0
        ? `LOST at "${l.stage}": fewer records than the gateway accepted`
        : `LOST at "${l.stage}": ${l.ids.join(', ')}${l.ids.length === 20 ? ', ...' : ''}`,
    );
  }
  out.push(result.ok ? 'nothing lost' : 'LOSS FOUND');
  return `${out.join('\n')}\n`;
};
