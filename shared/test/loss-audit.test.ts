// The loss audit's reconciliation, without a network: what counts as lost, in flight or extra.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAudit, reconcile, STAGES, type AuditInput } from '../src/loss-audit.ts';

const events = (n: number, partition = 0) =>
  Array.from({ length: n }, (_, i) => ({ eventId: `e${partition}-${i}`, partition, offset: i }));

const clean = (): AuditInput => {
  const topicEvents = [...events(5, 0), ...events(3, 1)];
  return {
    accepted: 8,
    topicEvents,
    topicCopies: 0,
    processorCommitted: new Map([
      [0, 5],
      [1, 3],
    ]),
    sinkEventsCommitted: new Map([
      [0, 5],
      [1, 3],
    ]),
    archivedEvents: new Set(topicEvents.map((e) => e.eventId)),
    topicAlerts: [{ alertId: 'a1', tradeEventId: 'e0-4', partition: 0, offset: 0 }],
    sinkAlertsCommitted: new Map([[0, 1]]),
    archivedAlerts: new Set(['a1']),
  };
};

const row = (r: ReturnType<typeof reconcile>, stage: string) => r.rows.find((x) => x.stage === stage)!;

test('a complete run reconciles: every stage holds every event and alert', () => {
  const r = reconcile(clean());
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.rows.map((x) => [x.count, x.missing, x.inFlight, x.extra]),
    [
      [8, 0, 0, 0],
      [8, 0, 0, 0],
      [8, 0, 0, 0],
      [8, 0, 0, 0],
      [1, 0, 0, 0],
      [1, 0, 0, 0],
    ],
  );
  assert.match(formatAudit(r, { from: 0, to: 60000 }), /nothing lost\n$/);
});

test('an archived row missing below the sink committed offset is lost; above it, in flight', () => {
  const input = clean();
  const archived = new Set(input.archivedEvents);
  archived.delete('e0-1'); // below the committed offset 5: the sink moved past it
  archived.delete('e1-2');
  const r = reconcile({ ...input, archivedEvents: archived, sinkEventsCommitted: new Map([[0, 5]]) });
  assert.equal(r.ok, false);
  assert.deepEqual(row(r, STAGES.archivedEvents), {
    stage: STAGES.archivedEvents,
    count: 6,
    missing: 1,
    inFlight: 1,
    extra: 0,
  });
  assert.deepEqual(r.lost, [{ stage: STAGES.archivedEvents, ids: ['e0-1'] }]);
  const text = formatAudit(r, { from: 0, to: 60000 });
  assert.match(text, /rows in the events archive +6 +1 LOST +1 +0/);
  assert.match(text, /LOST at "rows in the events archive": e0-1\nLOSS FOUND\n$/);
});

test('fewer topic records than the gateway accepted is a loss; more (copies, unmarked) is not', () => {
  const fewer = reconcile({ ...clean(), accepted: 10 });
  assert.equal(fewer.ok, false);
  assert.equal(row(fewer, STAGES.topic).missing, 2);
  const more = reconcile({ ...clean(), accepted: 7, topicCopies: 2 });
  assert.equal(more.ok, true);
  assert.equal(row(more, STAGES.topic).extra, 3);
});

test('records past the processors committed offset are in flight, not lost', () => {
  const r = reconcile({ ...clean(), processorCommitted: new Map([[0, 2]]) });
  assert.equal(r.ok, true);
  assert.deepEqual([row(r, STAGES.applied).count, row(r, STAGES.applied).inFlight], [2, 6]);
});

test('an alert the sink moved past without archiving is lost; archive rows beyond the topic are extra', () => {
  const input = clean();
  const r = reconcile({
    ...input,
    archivedAlerts: new Set(),
    archivedEvents: new Set([...input.archivedEvents, 'older-than-retention']),
  });
  assert.equal(r.ok, false);
  assert.equal(row(r, STAGES.archivedAlerts).missing, 1);
  assert.equal(row(r, STAGES.archivedEvents).extra, 1);
  assert.deepEqual(r.lost, [{ stage: STAGES.archivedAlerts, ids: ['a1'] }]);
  const notYet = reconcile({ ...input, archivedAlerts: new Set(), sinkAlertsCommitted: new Map() });
  assert.equal(notYet.ok, true);
  assert.equal(row(notYet, STAGES.archivedAlerts).inFlight, 1);
});
