// The user's recent history from the archive, newest first: logins (with their IP), trades (amount
// and counterparty) and alerts, which stand out and can be selected.
import type { ArchivedEvent, DeskAlert } from '../../src/api-types.ts';
import { formatAmount, formatAmountVsBaseline, formatIsoTime, formatTime } from './format.ts';
import { LabelBadge } from './LabelBadge.tsx';

type Entry =
  { kind: 'event'; at: number; event: ArchivedEvent } | { kind: 'alert'; at: number; alert: DeskAlert };

export function UserTimeline({
  events,
  alerts,
  knownIps,
  selectedAlert,
  onSelectAlert,
}: {
  events: readonly ArchivedEvent[];
  alerts: readonly DeskAlert[];
  /** The live known IPs, to mark logins from elsewhere. */
  knownIps: readonly string[];
  selectedAlert: DeskAlert | undefined;
  onSelectAlert: (alertId: string) => void;
}) {
  const entries: Entry[] = [
    ...events.map((event): Entry => ({ kind: 'event', at: event.ts, event })),
    ...alerts.map((alert): Entry => ({ kind: 'alert', at: alert.detectedAt, alert })),
  ].sort((a, b) => b.at - a.at);

  if (entries.length === 0) return <p className="muted">Nothing archived for this user yet.</p>;
  return (
    <ol className="timeline">
      {entries.map((entry) => {
        const time = (
          <time dateTime={formatIsoTime(entry.at)} title={formatIsoTime(entry.at)}>
            {formatTime(entry.at)}
          </time>
        );
        if (entry.kind === 'alert') {
          const a = entry.alert;
          const selected = a.alertId === selectedAlert?.alertId;
          return (
            <li key={`a-${a.alertId}`} className={`timeline-alert${selected ? ' timeline-selected' : ''}`}>
              {time}
              <button
                type="button"
                className="timeline-alert-button"
                onClick={() => onSelectAlert(a.alertId)}
              >
                <strong>alert</strong> {formatAmountVsBaseline(a.amount, a.baseline, a.factor)} from {a.ip}
              </button>
              <LabelBadge label={a.labels[0]?.label} />
            </li>
          );
        }
        const e = entry.event;
        const flagged = e.eventId === selectedAlert?.tradeEventId;
        if (e.type === 'login') {
          const known = knownIps.includes(e.ip);
          return (
            <li key={`e-${e.eventId}`} className="timeline-login">
              {time}
              <span>
                login from <span className={`ip${known ? '' : ' ip-new'}`}>{e.ip}</span>
                <span className="muted"> · {e.gameServerId}</span>
              </span>
            </li>
          );
        }
        return (
          <li key={`e-${e.eventId}`} className={`timeline-trade${flagged ? ' timeline-flagged' : ''}`}>
            {time}
            <span>
              trade <strong>{e.amount === null ? '—' : formatAmount(e.amount)}</strong> {e.currency}
              {e.itemId !== '' && <> · {e.itemId}</>}
              {e.counterpartyId !== '' && <> → {e.counterpartyId}</>}
              <span className="muted"> · {e.gameServerId}</span>
              {flagged && <span className="warn"> · flagged</span>}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
