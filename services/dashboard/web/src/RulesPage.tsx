// The admins' rules page: every rule with its versions (mode, in force since, who and why) and
// the alerts each version raised; a new version from a definition; activate, shadow or disable
// as new versions; the active and the shadow version on the same trades; and a backtest form
// with a progress bar. Every change goes through the API (docs/rules.md); errors are shown as the
// server words them (an invalid definition lists every problem).
import { useCallback, useEffect, useRef, useState } from 'react';
import type { BacktestJob, ComparedTrade, RuleDefinition, RuleView } from '../../src/api-types.ts';
import { describeError, isUnauthorized, type DeskApi } from './api.ts';
import { ErrorMessage } from './ErrorMessage.tsx';

const POLL_MS = 400;
const time = (ms: number) => (ms === 0 ? 'always' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const localInput = (ms: number) =>
  new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
const fromLocalInput = (v: string): number | undefined => (v === '' ? undefined : new Date(v).getTime());
const pct = (p: number | null) => (p === null ? 'no labels' : `${(p * 100).toFixed(1)} %`);

function VersionRows({
  rule,
  busy,
  onMode,
  onUse,
}: {
  rule: RuleView;
  busy: boolean;
  onMode: (action: 'activate' | 'shadow', version: number) => void;
  onUse: (d: RuleDefinition) => void;
}) {
  const counts = new Map(rule.alerts.map((a) => [a.version, a]));
  return (
    <table className="rule-versions">
      <thead>
        <tr>
          <th>version</th>
          <th>mode</th>
          <th>in force from</th>
          <th>author</th>
          <th>reason</th>
          <th>params</th>
          <th>alerts</th>
          <th>shadow alerts</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {rule.versions.map((v) => (
          <tr key={v.version} data-testid={`version-${rule.ruleId}-${v.version}`}>
            <td>
              v{v.version}
              {rule.inForce.active === v.version && <span className="badge badge-active"> active now</span>}
              {rule.inForce.shadow === v.version && <span className="badge badge-shadow"> shadow now</span>}
            </td>
            <td className={`mode mode-${v.mode}`}>{v.mode}</td>
            <td>{time(v.effectiveFrom)}</td>
            <td>{v.author}</td>
            <td>{v.reason}</td>
            <td>
              <code>{JSON.stringify(v.params)}</code>
            </td>
            <td data-testid={`alerts-${rule.ruleId}-${v.version}`}>{counts.get(v.version)?.alerts ?? 0}</td>
            <td>{counts.get(v.version)?.shadowAlerts ?? 0}</td>
            <td className="rule-actions">
              <button
                type="button"
                className="button-small"
                disabled={busy}
                onClick={() => onMode('activate', v.version)}
              >
                Activate
              </button>
              <button
                type="button"
                className="button-small"
                disabled={busy}
                onClick={() => onMode('shadow', v.version)}
              >
                Shadow
              </button>
              <button type="button" className="button-small" onClick={() => onUse(v)}>
                Edit / backtest
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Comparison({ trades }: { trades: ComparedTrade[] }) {
  if (trades.length === 0)
    return <p className="muted">No trade flagged by an active or a shadow version yet.</p>;
  return (
    <table className="rule-comparison" aria-label="active vs shadow">
      <thead>
        <tr>
          <th>trade</th>
          <th>user</th>
          <th>time</th>
          <th>amount</th>
          <th>active</th>
          <th>shadow</th>
        </tr>
      </thead>
      <tbody>
        {trades.map((t) => (
          <tr key={t.tradeEventId}>
            <td>{t.tradeEventId}</td>
            <td>{t.userId}</td>
            <td>{time(t.tradeTs)}</td>
            <td>{t.amount}</td>
            <td>{t.activeVersions.length === 0 ? '—' : t.activeVersions.map((v) => `v${v}`).join(', ')}</td>
            <td>{t.shadowVersions.length === 0 ? '—' : t.shadowVersions.map((v) => `v${v}`).join(', ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BacktestResult({ job }: { job: BacktestJob }) {
  const total = job.progress.total;
  return (
    <div className="backtest-job" data-testid="backtest-job">
      <label>
        {job.status === 'done' ? 'Done' : job.status === 'failed' ? 'Failed' : 'Replaying'}{' '}
        <progress
          data-testid="backtest-progress"
          max={total ?? 1}
          value={job.status === 'done' ? (total ?? 1) : Math.min(job.progress.events, total ?? 0)}
        />{' '}
        {job.progress.events.toLocaleString('en')} / {total === null ? '…' : total.toLocaleString('en')}{' '}
        events
      </label>
      {job.error !== undefined && <ErrorMessage message={job.error} />}
      {job.result !== undefined && (
        <dl className="backtest-report" data-testid="backtest-report">
          <dt>events replayed</dt>
          <dd>
            {job.result.events.toLocaleString('en')} ({job.result.eventsPerSec.toLocaleString('en')} events/s)
          </dd>
          <dt>candidate alerts</dt>
          <dd data-testid="backtest-candidate">{job.result.candidate.alerts}</dd>
          <dt>active alerts (archived)</dt>
          <dd data-testid="backtest-active">{job.result.active.alerts}</dd>
          <dt>only the candidate / only the active</dt>
          <dd data-testid="backtest-diff">
            {job.result.onlyCandidate} / {job.result.onlyActive}
          </dd>
          <dt>precision candidate / active</dt>
          <dd>
            {pct(job.result.precision.candidate)} / {pct(job.result.precision.active)}
          </dd>
          <dt>versions read late (archive vs event time)</dt>
          <dd>
            {job.result.replayedHistory.notArchived} not archived,{' '}
            {job.result.replayedHistory.archivedNotReplayed} archived only,{' '}
            {job.result.replayedHistory.otherVersion} by another version
          </dd>
        </dl>
      )}
    </div>
  );
}

export function RulesPage({ api, onUnauthorized }: { api: DeskApi; onUnauthorized: () => void }) {
  const [rules, setRules] = useState<RuleView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState('');
  const [ruleId, setRuleId] = useState('large-trade-new-ip');
  const [type, setType] = useState<RuleDefinition['type']>('large-trade-new-ip');
  const [mode, setMode] = useState<RuleDefinition['mode']>('shadow');
  const [params, setParams] = useState('{"minTrades": 5, "amountFactor": 3}');
  const [effectiveFrom, setEffectiveFrom] = useState('');
  const [comparison, setComparison] = useState<{ ruleId: string; trades: ComparedTrade[] } | null>(null);
  const [from, setFrom] = useState(() => localInput(Date.now() - 24 * 3600 * 1000));
  const [to, setTo] = useState(() => localInput(Date.now() + 3600 * 1000));
  const [job, setJob] = useState<BacktestJob | null>(null);
  const polling = useRef<ReturnType<typeof setTimeout> | null>(null);

  const failed = useCallback(
    (what: string) => (err: unknown) => {
      if (isUnauthorized(err)) onUnauthorized();
      else setError(`${what}: ${describeError(err)}`);
    },
    [onUnauthorized],
  );
  const reload = useCallback(() => {
    api.listRules().then(setRules, failed('Reading the rules failed'));
  }, [api, failed]);
  useEffect(() => {
    reload();
    return () => {
      if (polling.current !== null) clearTimeout(polling.current);
    };
  }, [reload]);

  const parsedParams = (): unknown => {
    try {
      return JSON.parse(params) as unknown;
    } catch (err) {
      throw new Error(`params is not JSON: ${(err as Error).message}`);
    }
  };
  const run = (what: string, action: () => Promise<RuleDefinition>) => {
    setBusy(true);
    setError(null);
    setMessage(null);
    let p: Promise<RuleDefinition>;
    try {
      p = action();
    } catch (err) {
      setBusy(false);
      setError(`${what}: ${(err as Error).message}`);
      return;
    }
    p.then((d) => {
      setMessage(`${d.ruleId} version ${d.version} (${d.mode}) written`);
      reload();
    }, failed(what)).finally(() => setBusy(false));
  };
  const save = () =>
    run('The new version was refused', () => {
      const e = fromLocalInput(effectiveFrom);
      return api.putRule(ruleId, {
        type,
        mode,
        params: parsedParams(),
        reason,
        ...(e === undefined ? {} : { effectiveFrom: e }),
      });
    });
  const changeMode = (id: string, action: 'activate' | 'shadow' | 'disable', version?: number) =>
    run(`${action} was refused`, () =>
      api.changeRuleMode(id, action, { reason, ...(version === undefined ? {} : { version }) }),
    );
  const use = (d: RuleDefinition) => {
    setRuleId(d.ruleId);
    setType(d.type);
    setParams(JSON.stringify(d.params));
  };
  const poll = (id: string) => {
    api.getBacktest(id).then((j) => {
      setJob(j);
      if (j.status === 'queued' || j.status === 'running')
        polling.current = setTimeout(() => poll(id), POLL_MS);
    }, failed('Reading the backtest failed'));
  };
  const backtest = () => {
    setError(null);
    let rule: unknown;
    try {
      rule = { ruleId, type, params: parsedParams() };
    } catch (err) {
      setError(`The backtest was refused: ${(err as Error).message}`);
      return;
    }
    const f = fromLocalInput(from) ?? 0;
    const t = fromLocalInput(to) ?? 0;
    api.startBacktest(rule, f, t).then((j) => {
      setJob(j);
      poll(j.id);
    }, failed('The backtest was refused'));
  };
  const compare = (id: string) =>
    api
      .compareRule(id, 50)
      .then((trades) => setComparison({ ruleId: id, trades }), failed('The comparison failed'));

  return (
    <main className="rules-page" aria-label="rules">
      {error !== null && <ErrorMessage message={error} />}
      {message !== null && (
        <p className="notice" role="status">
          {message}
        </p>
      )}
      <label className="rules-reason">
        Reason for a change{' '}
        <input
          data-testid="rule-reason"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          maxLength={1000}
        />
      </label>
      {rules === null ? (
        <p className="loading">Reading the rules…</p>
      ) : (
        rules.map((r) => (
          <section key={r.ruleId} className="rule" data-testid={`rule-${r.ruleId}`}>
            <h2>
              {r.ruleId} <span className="muted">{r.type}</span>{' '}
              <span className="muted">
                in force: {r.inForce.active === null ? 'nothing active' : `v${r.inForce.active}`}
                {r.inForce.shadow === null ? '' : `, shadow v${r.inForce.shadow}`}
              </span>
            </h2>
            <VersionRows rule={r} busy={busy} onMode={(a, v) => changeMode(r.ruleId, a, v)} onUse={use} />
            <button
              type="button"
              className="button-small"
              disabled={busy}
              onClick={() => changeMode(r.ruleId, 'disable')}
            >
              Disable {r.ruleId}
            </button>{' '}
            <button type="button" className="button-small" onClick={() => void compare(r.ruleId)}>
              Active vs shadow
            </button>
            {comparison?.ruleId === r.ruleId && <Comparison trades={comparison.trades} />}
          </section>
        ))
      )}
      <section className="rule-editor" aria-label="new version">
        <h2>New version / backtest candidate</h2>
        <label>
          rule id <input data-testid="rule-id" value={ruleId} onChange={(e) => setRuleId(e.target.value)} />
        </label>
        <label>
          type{' '}
          <select value={type} onChange={(e) => setType(e.target.value as RuleDefinition['type'])}>
            <option value="large-trade-new-ip">large-trade-new-ip</option>
            <option value="drain-recent-volume">drain-recent-volume</option>
          </select>
        </label>
        <label>
          mode{' '}
          <select
            data-testid="rule-mode"
            value={mode}
            onChange={(e) => setMode(e.target.value as RuleDefinition['mode'])}
          >
            <option value="active">active</option>
            <option value="shadow">shadow</option>
            <option value="disabled">disabled</option>
          </select>
        </label>
        <label>
          in force from (empty: now){' '}
          <input
            type="datetime-local"
            value={effectiveFrom}
            onChange={(e) => setEffectiveFrom(e.target.value)}
          />
        </label>
        <label className="rule-params">
          params (JSON){' '}
          <textarea
            data-testid="rule-params"
            value={params}
            onChange={(e) => setParams(e.target.value)}
            rows={3}
          />
        </label>
        <button type="button" data-testid="rule-save" disabled={busy} onClick={save}>
          Write version
        </button>
        <h3>Backtest</h3>
        <label>
          from{' '}
          <input
            data-testid="backtest-from"
            type="datetime-local"
            value={from}
            onChange={(e) => setFrom(e.target.value)}
          />
        </label>
        <label>
          to{' '}
          <input
            data-testid="backtest-to"
            type="datetime-local"
            value={to}
            onChange={(e) => setTo(e.target.value)}
          />
        </label>
        <button type="button" data-testid="backtest-run" onClick={backtest}>
          Run backtest
        </button>
        {job !== null && <BacktestResult job={job} />}
      </section>
    </main>
  );
}
