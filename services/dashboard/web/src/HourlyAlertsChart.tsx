// Alerts per hour over the last 24 hours, as bars: all 24 hours, those without alerts at zero
// (the server lists only the hours that had some).
import { useMemo } from 'react';
import uPlot from 'uplot';
import type { Overview } from '../../src/api-types.ts';
import { formatAmount, formatCompact } from './format.ts';
import { UPlotChart, type ChartOptions } from './UPlotChart.tsx';

const BAR_COLOUR = '#c0392b';
const HOUR_S = 3600;
const HOURS = 24;
// uPlot's types mark its path builders optional; the bundled build has them all.
const bars = uPlot.paths.bars?.({ size: [0.8, 24], align: 1 });

const compactTicks = (_u: uPlot, splits: number[]) => splits.map(formatCompact);

const OPTIONS: ChartOptions = {
  legend: { show: false },
  cursor: { y: false },
  scales: {
    // Each bar starts at its hour; the scale ends where the last hour does.
    x: { time: true, range: (_u, min, max) => [min, max + HOUR_S] },
    y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
  },
  series: [
    {},
    {
      label: 'alerts/hour',
      stroke: BAR_COLOUR,
      fill: 'rgba(192, 57, 43, 0.55)',
      width: 0,
      ...(bars === undefined ? {} : { paths: bars }),
    },
  ],
  axes: [
    { size: 28, font: '11px system-ui, sans-serif' },
    { size: 40, font: '11px system-ui, sans-serif', values: compactTicks },
  ],
};

/** The 24 hours ending with the current one (or the server's latest, if its clock is ahead). */
export const hourBuckets = (hourly: Overview['hourly'], nowMs: number): uPlot.AlignedData => {
  const byHour = new Map(hourly.map((h) => [h.hour, h.alerts]));
  const current = Math.floor(nowMs / 1000 / HOUR_S) * HOUR_S;
  const last = Math.max(current, ...hourly.map((h) => h.hour));
  const hours = Array.from({ length: HOURS }, (_, i) => last - (HOURS - 1 - i) * HOUR_S);
  return [hours, hours.map((h) => byHour.get(h) ?? 0)];
};

export function HourlyAlertsChart({ hourly }: { hourly: Overview['hourly'] }) {
  const data = useMemo(() => hourBuckets(hourly, Date.now()), [hourly]);
  const total = hourly.reduce((sum, h) => sum + h.alerts, 0);
  return (
    <figure className="overview-card">
      <figcaption>
        <span>Alerts per hour, last 24 h</span>
        <span className="chart-values">{formatAmount(total)} in all</span>
      </figcaption>
      <UPlotChart options={OPTIONS} data={data} height={120} label="alerts per hour over the last 24 hours" />
    </figure>
  );
}
