// The live alert feed as a React hook: reads a page of history for the filters, continues it on
// the stream from the page's cursor, batches stream events into one render per frame, and re-reads
// history when the server resets the stream or refuses it. The feed holds exactly the alerts that
// match the filters: live ones are tested on arrival, and one whose new label leaves the label
// filter is dropped (labelling an alert takes it off an "unlabelled" worklist). The alerts
// themselves live in a FeedStore (dedupe, order, cap); this module owns the I/O and the
// connection state.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AlertLabel, DeskAlert } from '../../src/api-types.ts';
import { describeError, isUnauthorized, type DeskApi } from './api.ts';
import { openAlertStream, type AlertStream } from './alert-stream.ts';
import { FeedStore } from './feed-store.ts';
import { matchesFilters, matchesLabel, toAlertsQuery, type FeedFilters } from './filters.ts';
import { createFrameBatcher } from './frame-batcher.ts';

/**
 * How many alerts of history a (re)load reads before the stream takes over: the server's default
 * DASHBOARD_MAX_PAGE_SIZE (a larger limit than the server's is refused with a 400), measured by
 * bench/dashboard-bench.ts.
 */
export const HISTORY_LIMIT = 10_000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15_000;

declare global {
  interface Window {
    /** Every alertId the feed holds (not only the rendered rows), for automated tests. */
    __deskAlertIds?: () => string[];
  }
}

export type FeedConnection =
  | { state: 'live'; since: number; downSince: number | null }
  | { state: 'reconnecting'; since: number; reason: string };

export interface AlertFeed {
  /** Every alert held (all match the filters), newest first. */
  alerts: readonly DeskAlert[];
  loading: boolean;
  connection: FeedConnection;
  error: string | null;
  notice: string | null;
  get(alertId: string): DeskAlert | undefined;
  /** A label this browser just stored: shown at once, and not again when the stream brings it. */
  applyLabel(label: AlertLabel): void;
}

type FeedEvent = { kind: 'alert'; alert: DeskAlert } | { kind: 'label'; label: AlertLabel };

export const useAlertFeed = (api: DeskApi, filters: FeedFilters, onUnauthorized: () => void): AlertFeed => {
  const [store] = useState(() => new FeedStore());
  const [alerts, setAlerts] = useState<readonly DeskAlert[]>(store.list);
  const [loading, setLoading] = useState(true);
  const [connection, setConnection] = useState<FeedConnection>({
    state: 'reconnecting',
    since: Date.now(),
    reason: 'opening the stream',
  });
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const unauthorized = useRef(onUnauthorized);
  useEffect(() => {
    unauthorized.current = onUnauthorized;
  }, [onUnauthorized]);

  useEffect(() => {
    let stopped = false;
    let stream: AlertStream | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | null = null;
    let retryDelay = RETRY_MIN_MS;
    let downSince: number | null = null;
    let wasLive = false;

    const publish = () => setAlerts(store.list);
    // Returns true: the labels changed the feed, whether or not an alert left the filter.
    const retainLabelFilter = () => {
      if (filters.label !== '') store.retain((a) => matchesLabel(a, filters.label));
      return true;
    };
    const batcher = createFrameBatcher<FeedEvent>((events) => {
      const newAlerts: DeskAlert[] = [];
      const newLabels: AlertLabel[] = [];
      for (const e of events) {
        if (e.kind === 'alert') newAlerts.push(e.alert);
        else newLabels.push(e.label);
      }
      // Alerts first: a label may be for an alert of the same batch.
      const added = store.addAlerts(newAlerts);
      const labelled = store.addLabels(newLabels) && retainLabelFilter();
      if (added || labelled) publish();
    });

    const markDown = (reason: string) => {
      downSince ??= Date.now();
      const since = downSince;
      setConnection((prev) =>
        prev.state === 'reconnecting' ? { ...prev, reason } : { state: 'reconnecting', since, reason },
      );
    };

    const retryLater = (reason: string) => {
      stream?.close();
      stream = null;
      markDown(reason);
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = setTimeout(() => void load(), retryDelay);
      retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    };

    const load = async (): Promise<void> => {
      retryTimer = null;
      setLoading(true);
      let page;
      try {
        page = await api.listAlerts(toAlertsQuery(filters, HISTORY_LIMIT));
      } catch (err) {
        if (stopped) return;
        setLoading(false);
        if (isUnauthorized(err)) {
          unauthorized.current();
          return;
        }
        setError(`The alert history could not be read: ${describeError(err)}`);
        retryLater('the history could not be read; retrying');
        return;
      }
      if (stopped) return;
      setLoading(false);
      setError(null);
      // What the previous stream delivered goes in first; the page then replaces those alerts it
      // also holds, since its labels are the archive's current ones.
      batcher.flush();
      if (
        store.addAlerts(
          page.alerts.filter((a) => matchesFilters(a, filters)),
          true,
        )
      )
        publish();
      stream = openAlertStream(page.cursor, {
        onAlert(alert) {
          if (matchesFilters(alert, filters)) batcher.push({ kind: 'alert', alert });
        },
        onLabel(label) {
          batcher.push({ kind: 'label', label });
        },
        onReset(message) {
          setNotice(`The server could not resume the stream (${message}); the history was read again.`);
          stream?.close();
          stream = null;
          markDown('the stream was reset; reading the history again');
          void load();
        },
        onState(state) {
          if (state === 'open') {
            retryDelay = RETRY_MIN_MS;
            setConnection({ state: 'live', since: Date.now(), downSince: wasLive ? downSince : null });
            downSince = null;
            wasLive = true;
          } else if (state === 'connecting') {
            // A reset or a refusal already said why the stream is down; keep that reason.
            if (downSince === null) markDown(wasLive ? 'connection lost' : 'opening the stream');
          } else {
            retryLater('the server refused the stream; retrying');
          }
        },
        onBadEvent(type, err) {
          setError(`A "${type}" event from the stream could not be read: ${describeError(err)}`);
        },
      });
    };

    store.clear();
    publish();
    void load();
    window.__deskAlertIds = () => {
      batcher.flush();
      return store.ids();
    };
    return () => {
      stopped = true;
      stream?.close();
      batcher.cancel();
      if (retryTimer !== null) clearTimeout(retryTimer);
      delete window.__deskAlertIds;
    };
  }, [api, filters, store]);

  const get = useCallback((alertId: string) => store.get(alertId), [store]);
  const applyLabel = useCallback(
    (label: AlertLabel) => {
      if (store.addLabels([label])) {
        if (filters.label !== '') store.retain((a) => matchesLabel(a, filters.label));
        setAlerts(store.list);
      }
    },
    [store, filters.label],
  );

  return { alerts, loading, connection, error, notice, get, applyLabel };
};
