// Events per second and alerts per second over the last minutes, each on its own axis (alerts
// are a thousand times rarer than events), with the latest values written above.
import { useMemo } from 'react';
import type uPlot from 'uplot';
import type { RatePoint } from '../../src/api-types.ts';
import { formatCompact, formatRate } from './format.ts';
import { UPlotChart, type ChartOptions } from './UPlotChart.tsx';

const EVENTS_COLOUR = '#2f5fb3';
const ALERTS_COLOUR = '#c0392b';

const compactTicks = (_u: uPlot, splits: number[]) => splits.map(formatCompact);

const OPTIONS: ChartOptions = {
  legend: { show: false },
  cursor: { y: false },
  scales: {
    x: { time: true },
    events: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] },
    alerts: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
  },
  series: [
    {},
    {
      label: 'events/s',
      scale: 'events',
      stroke: EVENTS_COLOUR,
      width: 1.5,
      fill: 'rgba(47, 95, 179, 0.08)',
    },
    { label: 'alerts/s', scale: 'alerts', stroke: ALERTS_COLOUR, width: 1.5 },
  ],
  axes: [
    { size: 28, font: '11px system-ui, sans-serif' },
    {
      scale: 'events',
      size: 40,
      values: compactTicks,
      font: '11px system-ui, sans-serif',
      stroke: EVENTS_COLOUR,
    },
    {
      scale: 'alerts',
      side: 1,
      size: 34,
      values: compactTicks,
      font: '11px system-ui, sans-serif',
      stroke: ALERTS_COLOUR,
      grid: { show: false },
    },
  ],
};

export function LiveRatesChart({ live }: { live: readonly RatePoint[] }) {
  const data = useMemo<uPlot.AlignedData>(
    () => [live.map((p) => p.t), live.map((p) => p.events), live.map((p) => p.alerts)],
    [live],
  );
  const last = live.at(-1);
  return (
    <figure className="overview-card">
      <figcaption>
        <span>Live</span>
        <span className="chart-values">
          <span style={{ color: EVENTS_COLOUR }}>
            events/s {last === undefined ? '–' : formatRate(last.events)}
          </span>
          <span style={{ color: ALERTS_COLOUR }}>
            alerts/s {last === undefined ? '–' : formatRate(last.alerts)}
          </span>
        </span>
      </figcaption>
      <UPlotChart options={OPTIONS} data={data} height={120} label="events and alerts per second" />
    </figure>
  );
}
