// Alerts: a page of them (archive plus what the feed read since), the live stream, and labelling.
// A page and its cursor are taken together so that the stream opened from the cursor continues
// the page exactly: the archive says where it ends on each partition of the alerts topic, and
// what the feed holds past that end is added to the page.
import type { FastifyInstance } from 'fastify';
import type { Alert } from '@tradewatch/shared/alerts';
import { LABEL_VALUES, MAX_NOTE_LENGTH, type AlertLabel, type LabelValue } from '@tradewatch/shared/labels';
import type { Logger } from '@tradewatch/shared/logger';
import type { AlertsPage, DeskAlert } from '../api-types.ts';
import type { AlertFeed } from '../alert-feed.ts';
import type { AlertFilter, DeskArchive } from '../desk-archive.ts';
import { DeskError } from '../errors.ts';
import { decodeCursor, encodeCursor, type FeedCursor } from '../feed-cursor.ts';
import { openFeedStream } from '../feed-stream.ts';
import type { LabelPublisher } from '../label-publisher.ts';
import { requireUser } from '../plugins/auth.ts';
import { optionalChoice, optionalInt, optionalNumber, optionalText, type Query } from './query-params.ts';

export interface AlertRoutesOptions {
  feed: AlertFeed;
  archive: DeskArchive;
  labels: LabelPublisher;
  maxPageSize: number;
  log: Logger;
  now?: () => number;
}

export const DEFAULT_PAGE_SIZE = 500;
const LABEL_FILTERS = [...LABEL_VALUES, 'unlabelled'] as const;

const matches = (a: Alert, f: AlertFilter): boolean =>
  (f.userId === undefined || a.userId === f.userId) &&
  (f.gameServerId === undefined || a.gameServerId === f.gameServerId) &&
  (f.minAmount === undefined || a.amount >= f.minAmount) &&
  (f.maxAmount === undefined || a.amount <= f.maxAmount) &&
  (f.onlyIds === undefined || f.onlyIds.has(a.alertId)) &&
  (f.exceptIds === undefined || !f.exceptIds.has(a.alertId));

const newestFirst = (a: Alert, b: Alert) =>
  b.detectedAt - a.detectedAt || (a.alertId < b.alertId ? 1 : a.alertId > b.alertId ? -1 : 0);

/**
 * The alerts matching `filter`, newest first, and the cursor after them: the archive up to
 * where it ends on each partition, then what the feed holds past that end.
 */
export const alertsPage = async (
  feed: AlertFeed,
  archive: DeskArchive,
  filter: AlertFilter,
  log: Logger,
): Promise<AlertsPage> => {
  // The ends first: rows archived after this read are found again in the feed, never lost.
  const ends = await archive.archivedEnds();
  const archived = await archive.alerts(filter);
  const head = feed.log.head();
  const firstHeld = feed.log.firstHeld();
  const byId = new Map<string, Alert>(archived.map((a) => [a.alertId, a]));
  for (const e of feed.heldAlerts((e) => e.offset >= (ends.get(e.partition) ?? 0))) {
    const a = JSON.parse(e.json) as Alert;
    if (matches(a, filter)) byId.set(a.alertId, a);
  }
  firstHeld.alerts.forEach((first, p) => {
    const end = ends.get(p) ?? 0;
    if (end < first)
      log.warn({ partition: p, archivedEnd: end, firstHeld: first }, 'archive is behind the feed memory');
  });
  const alerts = [...byId.values()].sort(newestFirst).slice(0, filter.limit);
  const cursor: FeedCursor = { alerts: head.alerts, labels: head.labels };
  return {
    alerts: alerts.map((a): DeskAlert => ({ ...a, labels: feed.labels.of(a.alertId) })),
    cursor: encodeCursor(cursor),
  };
};

const labelBody = {
  type: 'object',
  required: ['label'],
  additionalProperties: false,
  properties: {
    label: { type: 'string', enum: [...LABEL_VALUES] },
    note: { type: 'string', maxLength: MAX_NOTE_LENGTH },
  },
} as const;

export const alertRoutes = (app: FastifyInstance, o: AlertRoutesOptions): void => {
  const now = o.now ?? Date.now;

  app.get('/api/alerts', async (req) => {
    requireUser(req, 'read');
    const q = req.query as Query;
    const label = optionalChoice(q, 'label', LABEL_FILTERS);
    const filter: AlertFilter = {
      limit: optionalInt(q, 'limit', 1, o.maxPageSize) ?? Math.min(DEFAULT_PAGE_SIZE, o.maxPageSize),
      userId: optionalText(q, 'userId'),
      gameServerId: optionalText(q, 'gameServerId'),
      minAmount: optionalNumber(q, 'minAmount', 0, 1e12),
      maxAmount: optionalNumber(q, 'maxAmount', 0, 1e12),
      onlyIds:
        label === undefined || label === 'unlabelled' ? undefined : o.feed.labels.alertsLabelled(label),
      exceptIds: label === 'unlabelled' ? o.feed.labels.labelledIds() : undefined,
    };
    return alertsPage(o.feed, o.archive, filter, o.log);
  });

  app.get('/api/alerts/stream', (req, reply) => {
    requireUser(req, 'read');
    const q = req.query as Query;
    // EventSource sends the id of the last event it received when it reconnects: that wins
    // over the cursor in the URL, which is where the page first opened the stream.
    const lastEventId = req.headers['last-event-id'];
    const given =
      (Array.isArray(lastEventId) ? lastEventId[0] : lastEventId) ?? optionalText(q, 'cursor', 4096);
    const from = given === undefined || given === '' ? o.feed.log.head() : decodeCursor(given);
    reply.hijack();
    openFeedStream(reply.raw, o.feed, from);
  });

  app.post<{ Params: { alertId: string }; Body: { label: LabelValue; note?: string } }>(
    '/api/alerts/:alertId/labels',
    { schema: { body: labelBody } },
    async (req, reply) => {
      const user = requireUser(req, 'label');
      const { alertId } = req.params;
      if (alertId.length > 128) throw new DeskError('bad_request', 'an alertId has at most 128 characters');
      const known =
        o.feed.heldAlerts((e) => e.alertId === alertId).length > 0 ||
        (await o.archive.alertById(alertId)) !== undefined;
      if (!known) throw new DeskError('not_found', `no alert ${alertId}`);
      const label: AlertLabel = {
        alertId,
        label: req.body.label,
        note: req.body.note ?? '',
        author: user.name,
        labelledAt: now(),
      };
      await o.labels.publish(label);
      req.log.info({ alertId, label: label.label, author: user.name }, 'alert labelled');
      return reply.code(201).send(label);
    },
  );
};
