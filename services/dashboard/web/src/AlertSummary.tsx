// The alert the panel is about, in one block: amount against the baseline, IP against the known
// IPs at the time, game server, time, current label.
import type { DeskAlert } from '../../src/api-types.ts';
import { formatAmountVsBaseline, formatIpVsKnown, formatIsoTime, formatTime } from './format.ts';
import { LabelBadge } from './LabelBadge.tsx';

export function AlertSummary({ alert }: { alert: DeskAlert }) {
  return (
    <section className="alert-summary" aria-label="selected alert">
      <div className="alert-summary-head">
        <h3>Alert</h3>
        <LabelBadge label={alert.labels[0]?.label} />
      </div>
      <dl className="facts">
        <dt>Amount</dt>
        <dd>{formatAmountVsBaseline(alert.amount, alert.baseline, alert.factor)}</dd>
        <dt>IP</dt>
        <dd>{formatIpVsKnown(alert.ip, alert.knownIps)}</dd>
        <dt>Server</dt>
        <dd>{alert.gameServerId}</dd>
        <dt>Detected</dt>
        <dd title={formatIsoTime(alert.detectedAt)}>
          {formatTime(alert.detectedAt)} <span className="muted">(trade at {formatTime(alert.tradeTs)})</span>
        </dd>
        <dt>Rule</dt>
        <dd>
          {alert.rule} v{alert.ruleVersion} <span className="muted mono">{alert.alertId}</span>
        </dd>
      </dl>
    </section>
  );
}
