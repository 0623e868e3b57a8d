// Bearer tokens as the services keep them: configured in clear or as `sha256:<hex>` (so that the
// configuration need not hold the token), kept and compared as SHA-256 digests, in constant time,
// against every entry. Nothing here ever returns or logs a token. Pure: no I/O.
import { createHash, timingSafeEqual } from 'node:crypto';

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** The digest of a configured secret: `sha256:<64 hex>` as given, anything else hashed. */
export const secretDigest = (secret: string): Buffer => {
  const hashed = /^sha256:([0-9a-fA-F]{64})$/.exec(secret);
  return hashed ? Buffer.from(hashed[1]!, 'hex') : tokenDigest(secret);
};

/** Whether a configured secret is given as its digest rather than in clear. */
export const isHashedSecret = (secret: string): boolean => /^sha256:[0-9a-fA-F]{64}$/.test(secret);

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export const bearerToken = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : /^Bearer[ ]+(\S{1,512})$/i.exec(header)?.[1];

/** The first entry whose digest is the token's; every entry is compared, whatever matches. */
export const findByToken = <T extends { digest: Buffer }>(
  entries: readonly T[],
  token: string,
): T | undefined => {
  const digest = tokenDigest(token);
  let found: T | undefined;
  for (const e of entries) if (timingSafeEqual(e.digest, digest) && found === undefined) found = e;
  return found;
};
