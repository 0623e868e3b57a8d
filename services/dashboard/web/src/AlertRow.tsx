// One alert in the feed: who, how much against their median, from which IP against the known
// ones, where and when, and its current label. Fixed height: the list is virtualised on it.
import { memo } from 'react';
import type { DeskAlert } from '../../src/api-types.ts';
import { formatAmount, formatFactor, formatIpVsKnown, formatIsoTime, formatTime } from './format.ts';
import { LabelBadge } from './LabelBadge.tsx';

export const ALERT_ROW_HEIGHT = 52;

export const AlertRow = memo(function AlertRow({
  alert,
  selected,
  onSelect,
  top,
}: {
  alert: DeskAlert;
  selected: boolean;
  onSelect: (alert: DeskAlert) => void;
  /** Offset of the row in the virtual list, in pixels. */
  top: number;
}) {
  const label = alert.labels[0]?.label;
  return (
    <div
      className={`alert-row${selected ? ' alert-row-selected' : ''}`}
      style={{ transform: `translateY(${top}px)`, height: ALERT_ROW_HEIGHT }}
      role="button"
      tabIndex={0}
      aria-pressed={selected}
      data-testid="alert-row"
      data-alert-id={alert.alertId}
      data-label={label ?? ''}
      onClick={() => onSelect(alert)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect(alert);
        }
      }}
    >
      <time
        className="alert-time"
        dateTime={formatIsoTime(alert.detectedAt)}
        title={formatIsoTime(alert.detectedAt)}
      >
        {formatTime(alert.detectedAt)}
      </time>
      <div className="alert-main">
        <div className="alert-line">
          <span className="alert-user">{alert.userId}</span>
          <span className="alert-amount">
            <strong>{formatAmount(alert.amount)}</strong> vs median {formatAmount(alert.baseline)}{' '}
            <span className="alert-factor">({formatFactor(alert.factor)})</span>
          </span>
        </div>
        <div className="alert-line alert-ip">{formatIpVsKnown(alert.ip, alert.knownIps)}</div>
      </div>
      <span className="alert-server" title="game server">
        {alert.gameServerId}
      </span>
      <LabelBadge label={label} />
    </div>
  );
});
