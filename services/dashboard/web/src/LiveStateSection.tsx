// The user's live state in the processor — "why was this flagged": the session IP against the
// known IPs, and the recent trade amounts against their median with the flagged amount beside them.
import type { DeskAlert, UserLiveState } from '../../src/api-types.ts';
import { distinctCount, formatAmount, formatFactor } from './format.ts';
import { TradeBars } from './TradeBars.tsx';

export function LiveStateSection({ state, alert }: { state: UserLiveState; alert: DeskAlert | undefined }) {
  const sessionKnown = state.sessionIp !== null && state.knownIps.includes(state.sessionIp);
  const distinct = distinctCount(state.knownIps);
  const sessions = state.knownIps.length;
  return (
    <section className="live-state" aria-label="live state">
      <h3>Live state</h3>
      <dl className="facts">
        <dt>Session IP</dt>
        <dd>
          <span className={`ip${sessionKnown ? '' : ' ip-new'}`} data-testid="session-ip">
            {state.sessionIp ?? '—'}
          </span>{' '}
          {state.sessionIp !== null && (
            <span className={sessionKnown ? 'muted' : 'warn'}>
              {sessionKnown ? 'among the known IPs' : `not among the ${distinct} known IPs`}
            </span>
          )}
        </dd>
        <dt>Known IPs</dt>
        <dd>
          {sessions === 0 ? (
            <span className="muted">none yet</span>
          ) : (
            <ul
              className="ip-list"
              title={`the IPs of the last ${sessions} sessions, oldest first (${distinct} different)`}
            >
              {state.knownIps.map((ip, i) => (
                <li key={`${i}-${ip}`} className="ip" data-testid="known-ip">
                  {ip}
                </li>
              ))}
              <li className="ip-list-note muted">
                last {sessions} session{sessions === 1 ? '' : 's'}, oldest first
              </li>
            </ul>
          )}
        </dd>
        <dt>Median</dt>
        <dd>
          {state.median === null ? (
            <span className="muted">no trades yet</span>
          ) : (
            <>
              <strong data-testid="state-median">{state.median}</strong>{' '}
              <span className="muted">of the last {state.trades.length} trades</span>
            </>
          )}
        </dd>
      </dl>
      {state.trades.length > 0 && (
        <TradeBars trades={state.trades} median={state.median} flagged={alert?.amount ?? null} />
      )}
      {alert !== undefined && (
        <p className="muted small">
          Flagged trade: {formatAmount(alert.amount)}, {formatFactor(alert.factor)} the median of{' '}
          {formatAmount(alert.baseline)} over the {alert.previousTrades} trades before it.
        </p>
      )}
      {state.trades.length > 0 && (
        <p className="trade-amounts small" aria-label="last trade amounts, oldest first">
          {state.trades.map((t) => formatAmount(t)).join(' · ')}
        </p>
      )}
    </section>
  );
}
