// The user's last trades as bars, their median as a line, and the flagged amount in red: how far
// out of the ordinary the flagged trade was, at a glance. The flagged trade is often among the last
// trades itself (the state moved on after it); otherwise it is drawn apart, after them.
import { formatAmount } from './format.ts';

const WIDTH = 440;
const HEIGHT = 120;
const TOP = 14;
const BOTTOM = 4;

export function TradeBars({
  trades,
  median,
  flagged,
}: {
  trades: readonly number[];
  median: number | null;
  /** The flagged trade's amount: red among the trades, or apart after them. */
  flagged: number | null;
}) {
  const flaggedIndex = flagged === null ? -1 : trades.lastIndexOf(flagged);
  const apart = flagged !== null && flaggedIndex < 0;
  const max = Math.max(1, ...trades, flagged ?? 0);
  const slots = trades.length + (apart ? 1.5 : 0);
  const slot = WIDTH / Math.max(slots, 10);
  const barWidth = Math.max(2, slot * 0.7);
  const y = (v: number) => HEIGHT - BOTTOM - ((HEIGHT - TOP - BOTTOM) * v) / max;
  const barHeight = (v: number) => Math.max(1.5, HEIGHT - BOTTOM - y(v));
  return (
    <svg
      className="trade-bars"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={`last ${trades.length} trades${median === null ? '' : `, median ${median}`}${flagged === null ? '' : `, flagged ${flagged}`}`}
    >
      {trades.map((amount, i) => (
        <rect
          key={i}
          className={i === flaggedIndex ? 'trade-bar-flagged' : 'trade-bar'}
          x={i * slot}
          y={HEIGHT - BOTTOM - barHeight(amount)}
          width={barWidth}
          height={barHeight(amount)}
        >
          <title>{formatAmount(amount)}</title>
        </rect>
      ))}
      {flagged !== null && flaggedIndex >= 0 && (
        <text
          className="trade-bars-text"
          x={flaggedIndex * slot < WIDTH / 2 ? flaggedIndex * slot : flaggedIndex * slot + barWidth}
          y={TOP - 3}
          textAnchor={flaggedIndex * slot < WIDTH / 2 ? 'start' : 'end'}
        >
          flagged {formatAmount(flagged)}
        </text>
      )}
      {apart && (
        <g>
          <rect
            className="trade-bar-flagged"
            x={(trades.length + 0.5) * slot}
            y={HEIGHT - BOTTOM - barHeight(flagged)}
            width={barWidth}
            height={barHeight(flagged)}
          >
            <title>flagged {formatAmount(flagged)}</title>
          </rect>
          <text
            className="trade-bars-text"
            x={(trades.length + 0.5) * slot + barWidth}
            y={TOP - 3}
            textAnchor="end"
          >
            flagged {formatAmount(flagged)}
          </text>
        </g>
      )}
      {median !== null && (
        <g>
          <line className="trade-median" x1={0} x2={WIDTH} y1={y(median)} y2={y(median)} />
          <text className="trade-bars-text" x={2} y={Math.max(TOP, y(median) - 3)}>
            median {formatAmount(median)}
          </text>
        </g>
      )}
    </svg>
  );
}
