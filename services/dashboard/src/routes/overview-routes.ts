// The overview: live rates, alerts per hour for the last day, the most flagged users and game
// servers (from the archive's aggregate tables), and each rule's precision from its labels.
import type { FastifyInstance } from 'fastify';
import { precisionOf } from '@tradewatch/shared/labels';
import type { Overview } from '../api-types.ts';
import type { DeskArchive } from '../desk-archive.ts';
import type { RateSource } from '../live-rates.ts';
import { requireUser } from '../plugins/auth.ts';

export interface OverviewRoutesOptions {
  archive: DeskArchive;
  rates: RateSource;
  now?: () => number;
}

const DAY_MS = 24 * 3600 * 1000;
const TOP = 10;

export const overviewRoutes = (app: FastifyInstance, o: OverviewRoutesOptions): void => {
  const now = o.now ?? Date.now;
  app.get('/api/overview', async (req) => {
    requireUser(req, 'read');
    const [hourly, topUsers, topGameServers, counts] = await Promise.all([
      o.archive.hourlyAlerts(now() - DAY_MS),
      o.archive.topUsers(TOP),
      o.archive.topGameServers(TOP),
      o.archive.labelCounts(),
    ]);
    const overview: Overview = {
      live: o.rates.points(),
      hourly,
      topUsers,
      topGameServers,
      precision: counts.map((c) => ({ ...c, precision: precisionOf(c.confirmed, c.falsePositive) })),
    };
    return overview;
  });
};
