// The desk once signed in: overview strip on top, the live feed with its filters on the left, the
// selected user's panel on the right; for admins, the rules page instead (the feed keeps running).
// Owns the filters, the selection and which page is shown.
import { useCallback, useState } from 'react';
import type { DeskAlert, Overview, SessionInfo } from '../../src/api-types.ts';
import type { DeskApi } from './api.ts';
import { AlertList } from './AlertList.tsx';
import { DeskHeader } from './DeskHeader.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';
import { FeedFilters } from './FeedFilters.tsx';
import { FeedStatus } from './FeedStatus.tsx';
import { hasFilters, NO_FILTERS, sameFilters, type FeedFilters as Filters } from './filters.ts';
import { OverviewPanel } from './OverviewPanel.tsx';
import { RulesPage } from './RulesPage.tsx';
import { useAlertFeed } from './use-alert-feed.ts';
import { useDebouncedValue } from './use-debounced-value.ts';
import { UserPanel, type Selection } from './UserPanel.tsx';

const FILTER_SETTLE_MS = 300;

export function Desk({
  api,
  session,
  onSignOut,
  onUnauthorized,
}: {
  api: DeskApi;
  session: SessionInfo;
  onSignOut: () => void;
  onUnauthorized: () => void;
}) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const settledFilters = useDebouncedValue(filters, FILTER_SETTLE_MS, sameFilters);
  const feed = useAlertFeed(api, settledFilters, onUnauthorized);
  const [selection, setSelection] = useState<Selection | null>(null);
  const [noticeSeen, setNoticeSeen] = useState<string | null>(null);
  const [gameServers, setGameServers] = useState<readonly string[]>([]);
  const [page, setPage] = useState<'alerts' | 'rules'>('alerts');

  const selectAlert = useCallback((alert: DeskAlert) => {
    setSelection({ userId: alert.userId, alertId: alert.alertId });
  }, []);
  const openUser = useCallback((userId: string) => setSelection({ userId, alertId: null }), []);
  const filterGameServer = useCallback(
    (gameServerId: string) => setFilters((f) => ({ ...f, gameServerId })),
    [],
  );
  const rememberGameServers = useCallback((overview: Overview) => {
    setGameServers((known) => {
      const all = new Set([...known, ...overview.topGameServers.map((s) => s.gameServerId)]);
      return all.size === known.length ? known : [...all].sort();
    });
  }, []);

  const canLabel = session.role === 'analyst' || session.role === 'admin';
  const feedAlert =
    selection === null || selection.alertId === null ? undefined : feed.get(selection.alertId);
  const emptyText = feed.loading
    ? 'Reading the alert history…'
    : hasFilters(settledFilters)
      ? 'No alert matches the filters.'
      : 'No alerts yet: they appear here as soon as they are raised.';

  return (
    <div className="desk">
      <DeskHeader
        session={session}
        onSignOut={onSignOut}
        page={page}
        onPage={session.role === 'admin' ? setPage : undefined}
      />
      {page === 'rules' ? (
        <RulesPage api={api} onUnauthorized={onUnauthorized} />
      ) : (
        <>
          <OverviewPanel
            api={api}
            onOpenUser={openUser}
            onFilterGameServer={filterGameServer}
            onOverview={rememberGameServers}
            onUnauthorized={onUnauthorized}
          />
          <div className="desk-main">
            <section className="feed" aria-label="alert feed">
              <FeedFilters filters={filters} onChange={setFilters} gameServers={gameServers} />
              <FeedStatus connection={feed.connection} loading={feed.loading} held={feed.alerts.length} />
              {feed.notice !== null && feed.notice !== noticeSeen && (
                <p className="notice" role="status">
                  {feed.notice}{' '}
                  <button type="button" className="link" onClick={() => setNoticeSeen(feed.notice)}>
                    dismiss
                  </button>
                </p>
              )}
              {feed.error !== null && <ErrorMessage message={feed.error} />}
              <AlertList
                alerts={feed.alerts}
                selectedAlertId={selection?.alertId ?? null}
                onSelect={selectAlert}
                emptyText={emptyText}
              />
            </section>
            {selection === null ? (
              <aside className="user-panel user-panel-empty">
                <p>
                  Select an alert to see why it was raised: the user's live state, who owns it, and their
                  recent activity.
                </p>
              </aside>
            ) : (
              <UserPanel
                key={selection.userId}
                api={api}
                selection={selection}
                feedAlert={feedAlert}
                canLabel={canLabel}
                onSelectAlert={(alertId) => setSelection({ userId: selection.userId, alertId })}
                onLabelled={feed.applyLabel}
                onClose={() => setSelection(null)}
                onUnauthorized={onUnauthorized}
              />
            )}
          </div>
        </>
      )}
    </div>
  );
}
