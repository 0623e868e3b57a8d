// Alerts per hour over the last 24 hours, as bars.
import { useMemo } from 'react';
import uPlot from 'uplot';
import type { Overview } from '../../src/api-types.ts';
import { formatAmount } from './format.ts';
import { UPlotChart, type ChartOptions } from './UPlotChart.tsx';

const BAR_COLOUR = '#c0392b';
// uPlot's types mark its path builders optional; the bundled build has them all.
const bars = uPlot.paths.bars?.({ size: [0.8, 24], align: 1 });

const OPTIONS: ChartOptions = {
  legend: { show: false },
  cursor: { y: false },
  scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
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
    { size: 40, font: '11px system-ui, sans-serif' },
  ],
};

export function HourlyAlertsChart({ hourly }: { hourly: Overview['hourly'] }) {
  const data = useMemo<uPlot.AlignedData>(
    () => [hourly.map((h) => h.hour), hourly.map((h) => h.alerts)],
    [hourly],
  );
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
