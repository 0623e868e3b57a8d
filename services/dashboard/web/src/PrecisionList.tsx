// Per-rule precision from the analysts' verdicts: confirmed / (confirmed + false positive).
import type { RulePrecision } from '../../src/api-types.ts';
import { formatPercent } from './format.ts';

/** "precision 66.7 % (2 confirmed / 3 with a verdict)", or "precision – (no verdict yet)". */
export const describePrecision = (p: RulePrecision): string => {
  const verdicts = p.confirmed + p.falsePositive;
  return p.precision === null
    ? 'precision – (no verdict yet)'
    : `precision ${formatPercent(p.precision)} (${p.confirmed} confirmed / ${verdicts} with a verdict)`;
};

export function PrecisionList({ rules }: { rules: readonly RulePrecision[] }) {
  return (
    <section className="overview-card precision">
      <h3>Rule precision</h3>
      {rules.length === 0 && <p className="muted small">No alerts yet.</p>}
      {rules.map((p) => (
        <div key={p.rule} className="precision-rule">
          <div className="precision-rule-name">{p.rule}</div>
          <div className="precision-figure" data-testid={`precision-${p.rule}`}>
            {describePrecision(p)}
          </div>
          <div className="muted small">
            {p.alerts} alert{p.alerts === 1 ? '' : 's'} · {p.falsePositive} false positive
            {p.falsePositive === 1 ? '' : 's'} · {p.needsReview} need{p.needsReview === 1 ? 's' : ''} review
          </div>
        </div>
      ))}
    </section>
  );
}
