// Whether the feed is live, and how many alerts it holds.
import { formatTime } from './format.ts';
import type { FeedConnection } from './use-alert-feed.ts';

const seconds = (fromMs: number, toMs: number) => `${Math.max(0, Math.round((toMs - fromMs) / 1000))} s`;

export function FeedStatus({
  connection,
  loading,
  held,
}: {
  connection: FeedConnection;
  loading: boolean;
  held: number;
}) {
  // The words "live" and "reconnecting" are the contract of data-testid="feed-status".
  const text =
    connection.state === 'live'
      ? connection.downSince === null
        ? `live since ${formatTime(connection.since)}`
        : `live again since ${formatTime(connection.since)} (down ${seconds(connection.downSince, connection.since)})`
      : `reconnecting — ${connection.reason} (since ${formatTime(connection.since)})`;
  return (
    <div className="feed-status-bar">
      <span className={`feed-status feed-status-${connection.state}`} data-testid="feed-status" role="status">
        <span className="feed-status-dot" aria-hidden="true" />
        {text}
      </span>
      <span className="feed-count">
        <span data-testid="alert-count">{held}</span> alerts loaded
        {loading && <span className="muted"> · reading history…</span>}
      </span>
    </div>
  );
}
