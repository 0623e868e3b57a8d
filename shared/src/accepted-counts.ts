// The gateway's durable count of accepted events, per minute of receipt: kept in Redis beside its
// idempotency ledger, incremented in the same script that records events as accepted (so an
// event is counted exactly when a retry of it would be answered as a duplicate), and read by the
// loss audit. Keys: `<prefix>accepted:<mode>:<minute>`, minute = floor(receivedAt / 60000).

export const ACCEPTED_BUCKET_MS = 60_000;

/** How long the per-minute counts are kept by default: longer than any topic's retention. */
export const ACCEPTED_COUNTS_RETENTION_SEC = 35 * 24 * 3600;

export const acceptedBucketOf = (receivedAt: number): number => Math.floor(receivedAt / ACCEPTED_BUCKET_MS);

export const acceptedCountKey = (keyPrefix: string, mode: 'live' | 'sandbox', bucket: number): string =>
  `${keyPrefix}accepted:${mode}:${bucket}`;

/** The minutes of [fromMs, toMs), which must lie on minute boundaries. */
export const bucketsBetween = (fromMs: number, toMs: number): number[] => {
  const out: number[] = [];
  for (let b = acceptedBucketOf(fromMs); b * ACCEPTED_BUCKET_MS < toMs; b++) out.push(b);
  return out;
};
