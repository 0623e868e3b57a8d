// How numbers, times and IP comparisons read on the desk. Pure.

const amountFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export const formatAmount = (n: number): string => amountFormat.format(n);

const rateFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const smallRateFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** A per-second rate: whole numbers from 100 up, one decimal below. */
export const formatRate = (n: number): string => (n >= 100 ? rateFormat : smallRateFormat).format(n);

const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** Axis ticks: 950, 1.2K, 15K, 2M. */
export const formatCompact = (n: number): string => compactFormat.format(n);

export const formatFactor = (factor: number): string => `×${factor.toFixed(1)}`;

/** "12,000 vs median 400 (×30.0)" */
export const formatAmountVsBaseline = (amount: number, baseline: number, factor: number): string =>
  `${formatAmount(amount)} vs median ${formatAmount(baseline)} (${formatFactor(factor)})`;

/** How many different IPs a list of sessions' IPs (which repeats an IP used twice) holds. */
export const distinctCount = (ips: readonly string[]): number => new Set(ips).size;

/**
 * "185.220.101.4 — not among 20 known IPs"; "… not among 3 known IPs (20 sessions)" when the
 * sessions repeat IPs.
 */
export const formatIpVsKnown = (ip: string, knownIps: readonly string[]): string => {
  const n = distinctCount(knownIps);
  const ips = `${n} known IP${n === 1 ? '' : 's'}`;
  const sessions = n === knownIps.length ? '' : ` (${knownIps.length} sessions)`;
  return `${ip} — ${knownIps.includes(ip) ? 'among the ' : 'not among '}${ips}${sessions}`;
};

const pad = (n: number) => String(n).padStart(2, '0');

/** "14:03:22" today, "03-14 14:03:22" on another day (local time). */
export const formatTime = (epochMs: number, now = Date.now()): string => {
  const d = new Date(epochMs);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date(now).toDateString()
    ? time
    : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
};

export const formatIsoTime = (epochMs: number): string => new Date(epochMs).toISOString();

/** "66.7 %" */
export const formatPercent = (ratio: number): string => `${(ratio * 100).toFixed(1)} %`;

export const LABEL_TEXT = {
  confirmed_fraud: 'confirmed fraud',
  false_positive: 'false positive',
  needs_review: 'needs review',
} as const;
