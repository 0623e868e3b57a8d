// How numbers, times and IP comparisons read on the desk. Pure.

const amountFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export const formatAmount = (n: number): string => amountFormat.format(n);

export const formatFactor = (factor: number): string => `×${factor.toFixed(1)}`;

/** "12,000 vs median 400 (×30.0)" */
export const formatAmountVsBaseline = (amount: number, baseline: number, factor: number): string =>
  `${formatAmount(amount)} vs median ${formatAmount(baseline)} (${formatFactor(factor)})`;

/** "185.220.101.4 — not among 20 known IPs" */
export const formatIpVsKnown = (ip: string, knownIps: readonly string[]): string => {
  const n = knownIps.length;
  if (knownIps.includes(ip)) return `${ip} — among the ${n} known IP${n === 1 ? '' : 's'}`;
  return `${ip} — not among ${n} known IP${n === 1 ? '' : 's'}`;
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
