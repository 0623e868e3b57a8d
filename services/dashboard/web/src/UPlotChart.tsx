// uPlot in React: the chart is built once per `options` and given new data in place, and follows
// its container's width.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

export type ChartOptions = Omit<uPlot.Options, 'width' | 'height'>;

export function UPlotChart({
  options,
  data,
  height,
  label,
}: {
  /** Keep it stable (module constant or useMemo): a new object builds a new chart. */
  options: ChartOptions;
  data: uPlot.AlignedData;
  height: number;
  label: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = container.current;
    if (el === null) return;
    const chart = new uPlot({ ...options, width: el.clientWidth, height }, latest.current, el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div className="chart" ref={container} role="img" aria-label={label} />;
}
