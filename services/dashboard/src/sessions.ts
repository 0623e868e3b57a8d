// Browser sessions as signed, self-contained cookies: `<payload>.<HMAC-SHA256>`, the payload
// naming the user, the end of the session and a fingerprint of the user's token digest, so a
// changed token or role ends the session and no server-side store is needed (any instance with
// the same key accepts it). The CSRF token is a second HMAC of the cookie: a page of this
// origin learns it from `GET /api/session`; another site can neither read nor forge it. Pure.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DeskUser } from './users.ts';

export const SESSION_COOKIE = 'tw_desk_session';

interface Payload {
  n: string;
  e: number;
  f: string;
}

const b64 = (buf: Buffer): string => buf.toString('base64url');
const fingerprint = (user: DeskUser): string => user.digest.subarray(0, 8).toString('hex') + user.role;

export class SessionSigner {
  private readonly key: Buffer;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(key: Buffer, ttlMs: number, now: () => number = Date.now) {
    this.key = key;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  private mac(what: string, text: string): Buffer {
    return createHmac('sha256', this.key).update(what).update('\u0000').update(text).digest();
  }

  /** A new session cookie value for the user, and when it ends. */
  issue(user: DeskUser): { value: string; expiresAt: number } {
    const expiresAt = this.now() + this.ttlMs;
    const payload = b64(Buffer.from(JSON.stringify({ n: user.name, e: expiresAt, f: fingerprint(user) })));
    return { value: `${payload}.${b64(this.mac('session', payload))}`, expiresAt };
  }

  /** The user of a cookie value, if it is genuine, unexpired, and the user is unchanged. */
  verify(value: string | undefined, users: readonly DeskUser[]): DeskUser | undefined {
    if (value === undefined || value.length > 1024) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = this.mac('session', payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Payload;
    } catch {
      return undefined;
    }
    if (typeof p.e !== 'number' || p.e <= this.now()) return undefined;
    const user = users.find((u) => u.name === p.n);
    return user !== undefined && fingerprint(user) === p.f ? user : undefined;
  }

  /** The CSRF token that goes with a session cookie value. */
  csrfToken(cookieValue: string): string {
    return b64(this.mac('csrf', cookieValue));
  }

  checkCsrf(cookieValue: string, token: string | undefined): boolean {
    if (token === undefined) return false;
    const given = Buffer.from(token, 'base64url');
    const expected = this.mac('csrf', cookieValue);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
