// Reading query-string parameters with errors that name the parameter and what it must be.
import { DeskError } from '../errors.ts';

export type Query = Readonly<Record<string, string | string[] | undefined>>;

const one = (q: Query, name: string): string | undefined => {
  const v = q[name];
  if (Array.isArray(v)) throw new DeskError('bad_request', `give ${name} once`);
  return v === undefined || v === '' ? undefined : v;
};

export const optionalText = (q: Query, name: string, max = 128): string | undefined => {
  const v = one(q, name);
  if (v !== undefined && (v.length > max || /\p{Cc}/u.test(v))) {
    throw new DeskError('bad_request', `${name} must be 1-${max} characters without control characters`);
  }
  return v;
};

export const optionalNumber = (q: Query, name: string, min: number, max: number): number | undefined => {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new DeskError(
      'bad_request',
      `${name} must be a number between ${min} and ${max}, not ${JSON.stringify(v)}`,
    );
  }
  return n;
};

export const optionalInt = (q: Query, name: string, min: number, max: number): number | undefined => {
  const n = optionalNumber(q, name, min, max);
  if (n !== undefined && !Number.isInteger(n))
    throw new DeskError('bad_request', `${name} must be an integer`);
  return n;
};

export const optionalChoice = <T extends string>(
  q: Query,
  name: string,
  allowed: readonly T[],
): T | undefined => {
  const v = one(q, name);
  if (v !== undefined && !(allowed as readonly string[]).includes(v)) {
    throw new DeskError('bad_request', `${name} must be one of ${allowed.join(', ')}`);
  }
  return v as T | undefined;
};
