// The overview strip: polls GET /api/overview every 2 s (one request at a time) and shows the
// live rates, the last day's alerts, the most flagged users and servers, and rule precision.
import { useEffect, useState } from 'react';
import type { Overview } from '../../src/api-types.ts';
import { describeError, isUnauthorized, type DeskApi } from './api.ts';
import { ErrorMessage } from './ErrorMessage.tsx';
import { HourlyAlertsChart } from './HourlyAlertsChart.tsx';
import { LiveRatesChart } from './LiveRatesChart.tsx';
import { PrecisionList } from './PrecisionList.tsx';
import { TopGameServersTable, TopUsersTable } from './TopTables.tsx';

const POLL_MS = 2000;

export function OverviewPanel({
  api,
  onOpenUser,
  onFilterGameServer,
  onOverview,
  onUnauthorized,
}: {
  api: DeskApi;
  onOpenUser: (userId: string) => void;
  onFilterGameServer: (gameServerId: string) => void;
  /** Every overview read, for whoever wants its lists (the game-server suggestions). */
  onOverview: (overview: Overview) => void;
  onUnauthorized: () => void;
}) {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const poll = async () => {
      try {
        const next = await api.getOverview();
        if (stopped) return;
        setOverview(next);
        setError(null);
        onOverview(next);
      } catch (err) {
        if (stopped) return;
        if (isUnauthorized(err)) {
          onUnauthorized();
          return;
        }
        setError(`The overview could not be read: ${describeError(err)}`);
      }
      timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [api, onOverview, onUnauthorized]);

  return (
    <section className="overview" aria-label="overview">
      {error !== null && <ErrorMessage message={error} />}
      <div className="overview-grid">
        <LiveRatesChart live={overview?.live ?? []} />
        <HourlyAlertsChart hourly={overview?.hourly ?? []} />
        <TopUsersTable users={overview?.topUsers ?? []} onOpenUser={onOpenUser} />
        <TopGameServersTable servers={overview?.topGameServers ?? []} onFilter={onFilterGameServer} />
        <PrecisionList rules={overview?.precision ?? []} />
      </div>
    </section>
  );
}
