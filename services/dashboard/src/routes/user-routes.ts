// "Why was this flagged": a user's live state from the processor that owns them, their archived
// events, and their alerts (archived, plus those the feed read since).
import type { FastifyInstance } from 'fastify';
import type { Alert } from '@tradewatch/shared/alerts';
import type { DeskAlert, UserView } from '../api-types.ts';
import type { AlertFeed } from '../alert-feed.ts';
import type { DeskArchive } from '../desk-archive.ts';
import { DeskError } from '../errors.ts';
import { requireUser } from '../plugins/auth.ts';
import type { UserStateLocator } from '../user-state-locator.ts';

export interface UserRoutesOptions {
  feed: AlertFeed;
  archive: DeskArchive;
  states: UserStateLocator;
}

const EVENTS_SHOWN = 200;
const ALERTS_SHOWN = 200;
const USER_ID = /^\P{Cc}{1,128}$/u;

export const userRoutes = (app: FastifyInstance, o: UserRoutesOptions): void => {
  app.get<{ Params: { userId: string } }>('/api/users/:userId', async (req) => {
    requireUser(req, 'read');
    const { userId } = req.params;
    if (!USER_ID.test(userId)) {
      throw new DeskError('bad_request', 'a userId is 1-128 characters without control characters');
    }
    const [located, events, archived] = await Promise.all([
      o.states.locate(userId),
      o.archive.userEvents(userId, EVENTS_SHOWN),
      o.archive.alerts({ limit: ALERTS_SHOWN, userId }),
    ]);
    const byId = new Map<string, Alert>(archived.map((a) => [a.alertId, a]));
    for (const e of o.feed.heldAlerts((e) => e.userId === userId)) {
      const a = JSON.parse(e.json) as Alert;
      byId.set(a.alertId, a);
    }
    const alerts = [...byId.values()]
      .sort((a, b) => b.detectedAt - a.detectedAt)
      .slice(0, ALERTS_SHOWN)
      .map((a): DeskAlert => ({ ...a, labels: o.feed.labels.of(a.alertId) }));
    const view: UserView = { userId, state: located.state, owner: located.owner, events, alerts };
    return view;
  });
};
