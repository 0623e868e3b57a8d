// The user panel: reads GET /api/users/:userId and composes why the selected alert was raised
// (live state, owner), its verdict, and the user's recent history. While the user's partition is
// restoring or moving it asks again by itself. Mounted once per user (key = userId).
import { useCallback, useEffect, useState } from 'react';
import type { AlertLabel, DeskAlert, UserView } from '../../src/api-types.ts';
import { describeError, isUnauthorized, type DeskApi } from './api.ts';
import { AlertSummary } from './AlertSummary.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';
import { withLabel } from './feed-store.ts';
import { LabelSection } from './LabelSection.tsx';
import { LiveStateSection } from './LiveStateSection.tsx';
import { OwnerSection } from './OwnerSection.tsx';
import { UserTimeline } from './UserTimeline.tsx';

const RETRY_WHILE_MOVING_MS = 3000;

export interface Selection {
  userId: string;
  /** null: opened from a table of users; the panel then shows the user's newest alert. */
  alertId: string | null;
}

export function UserPanel({
  api,
  selection,
  feedAlert,
  canLabel,
  onSelectAlert,
  onLabelled,
  onClose,
  onUnauthorized,
}: {
  api: DeskApi;
  selection: Selection;
  /** The selected alert as the live feed holds it (its labels follow the stream), if it does. */
  feedAlert: DeskAlert | undefined;
  canLabel: boolean;
  onSelectAlert: (alertId: string) => void;
  onLabelled: (label: AlertLabel) => void;
  onClose: () => void;
  onUnauthorized: () => void;
}) {
  const { userId } = selection;
  const [view, setView] = useState<UserView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);

  useEffect(() => {
    let stopped = false;
    setLoading(true);
    api.getUser(userId).then(
      (v) => {
        if (stopped) return;
        setView(v);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (stopped) return;
        setLoading(false);
        if (isUnauthorized(err)) onUnauthorized();
        else setError(`The user could not be read: ${describeError(err)}`);
      },
    );
    return () => {
      stopped = true;
    };
  }, [api, userId, reloads, onUnauthorized]);

  const status = view?.owner.status;
  const waiting = status === 'restoring' || status === 'moving' || status === 'unreachable';
  useEffect(() => {
    if (!waiting) return;
    const timer = setTimeout(reload, RETRY_WHILE_MOVING_MS);
    return () => clearTimeout(timer);
  }, [waiting, view, reload]);

  const current = view;
  const viewAlert =
    selection.alertId === null
      ? current?.alerts[0]
      : current?.alerts.find((a) => a.alertId === selection.alertId);
  const alert = feedAlert ?? viewAlert;

  const labelled = (label: AlertLabel) => {
    setView((v) =>
      v === null
        ? v
        : {
            ...v,
            alerts: v.alerts.map((a) =>
              a.alertId === label.alertId ? { ...a, labels: withLabel(a.labels, label) } : a,
            ),
          },
    );
    onLabelled(label);
  };

  return (
    <aside className="user-panel" data-testid="user-panel" aria-label={`user ${userId}`}>
      <header className="panel-header">
        <h2>
          <span className="muted">user</span> {userId}
        </h2>
        <div className="panel-actions">
          {loading && <span className="muted small">reading…</span>}
          <button type="button" className="button-small" onClick={reload}>
            Refresh
          </button>
          <button type="button" className="button-small" onClick={onClose} aria-label="close the user panel">
            ✕
          </button>
        </div>
      </header>
      <div className="panel-body">
        {error !== null && <ErrorMessage message={error} onRetry={reload} />}
        {current !== null && <OwnerSection owner={current.owner} retrying={waiting} onRetry={reload} />}
        {alert !== undefined && <AlertSummary alert={alert} />}
        {alert !== undefined && (
          <LabelSection
            key={alert.alertId}
            api={api}
            alert={alert}
            canLabel={canLabel}
            onLabelled={labelled}
          />
        )}
        {current !== null &&
          (current.state === null ? (
            <p className="muted">
              No live state
              {current.owner.status === 'running'
                ? ' for this user (no session or trade yet).'
                : ' while the partition is not running.'}
            </p>
          ) : (
            <LiveStateSection state={current.state} alert={alert} />
          ))}
        {current !== null && (
          <section aria-label="history">
            <h3>Recent activity</h3>
            <UserTimeline
              events={current.events}
              alerts={current.alerts}
              knownIps={current.state?.knownIps ?? []}
              selectedAlert={alert}
              onSelectAlert={onSelectAlert}
            />
          </section>
        )}
      </div>
    </aside>
  );
}
