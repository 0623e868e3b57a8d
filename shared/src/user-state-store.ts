// Per-partition user state: each user's current session IP, the IPs of their last HISTORY past
// sessions, the amounts of their last HISTORY trades and the ids of the events behind them.
// Stored column-wise in typed arrays, in fixed-size pages of user slots: memory grows with the
// users held (no capacity doubling, no copy of the whole state when it grows), and no per-user or
// per-event object is kept. IPs are 32-bit codes (ip-interner.ts); event ids are 64-bit hashes
// kept as two 32-bit halves. The changelog encoding (user-state-codec.ts) is written from and read
// into the columns directly. Pure: no I/O.
import { endianness } from 'node:os';
import { NO_IP, type IpInterner } from './ip-interner.ts';
import { STATE_VERSION, StateDecodeError, readIp, writeIp, type UserSnapshot } from './user-state-codec.ts';

export type { UserSnapshot } from './user-state-codec.ts';
export const MAX_HISTORY = 255;

/** One user's state as the state query shows it (JSON-ready, lists oldest first). */
export interface UserStateView {
  sessionIp: string | null;
  /** IPs of the past sessions kept (up to `history`), oldest first, repeats included. */
  knownIps: string[];
  /** Amounts of the trades kept (up to `history`), oldest first. */
  trades: number[];
  /** Median of `trades`, as the rule computes it; null without trades. */
  median: number | null;
}

/**
 * A 64-bit hash of an event id (cyrb53's mixing, widened) as two 32-bit halves, written to
 * `out[0]` (low) and `out[1]` (high). No allocation: it runs once per event.
 */
export const hashEventIdParts = (id: string, out: Uint32Array): void => {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out[0] = h1 >>> 0;
  out[1] = h2 >>> 0;
};

/** The same hash as one 64-bit value (high half first), for tools and tests. */
export const hashEventId = (id: string): bigint => {
  const parts = new Uint32Array(2);
  hashEventIdParts(id, parts);
  return (BigInt(parts[1]!) << 32n) | BigInt(parts[0]!);
};

// Per-slot bookkeeping bytes: ring counts and heads, and the dirty flag.
const PAST_N = 0;
const PAST_HEAD = 1;
const TRADE_N = 2;
const TRADE_HEAD = 3;
const SEEN_N = 4;
const SEEN_HEAD = 5;
const DIRTY = 6;
const META = 7;

interface Page {
  session: Uint32Array; // slot → ip code
  past: Uint32Array; // slot × history → ip code
  amounts: Float64Array; // slot × history
  seen: Uint32Array; // slot × seenWidth × (low, high)
  meta: Uint8Array; // slot × META
  // Byte views of the amounts and seen columns, to copy whole rings to and from records.
  amountBytes: Buffer;
  seenBytes: Buffer;
}

if (endianness() !== 'LE') throw new Error('the state store assumes a little-endian machine');

/**
 * Copies the ring of `n` 8-byte entries (head `head`, capacity `width`) that starts at byte
 * `row` of `column` to `buf[o]`, oldest first; returns the offset after it.
 */
const copyRingOut = (
  column: Buffer,
  row: number,
  n: number,
  head: number,
  width: number,
  buf: Buffer,
  o: number,
) => {
  if (n < width) return o + column.copy(buf, o, row, row + n * 8); // not wrapped yet: head is 0
  o += column.copy(buf, o, row + head * 8, row + width * 8);
  return o + column.copy(buf, o, row, row + head * 8);
};

/** Appends to the ring whose count is at meta[m] and head at meta[m + 1]; returns the position. */
const pushIndex = (meta: Uint8Array, m: number, width: number): number => {
  const n = meta[m]!;
  const h = meta[m + 1]!;
  if (n < width) {
    meta[m] = n + 1;
    const p = h + n;
    return p >= width ? p - width : p;
  }
  meta[m + 1] = h + 1 === width ? 0 : h + 1;
  return h;
};

export class UserStateStore {
  readonly history: number;
  readonly seenWidth: number;
  private readonly ips: IpInterner;
  private readonly pageBits: number;
  private readonly pageMask: number;
  private readonly pages: Page[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly userIds: string[] = [];
  private dirty: number[] = [];

  /** `pageSize` (rounded up to a power of two, at most 4096) is the number of users per page. */
  constructor(history: number, ips: IpInterner, pageSize = 4096) {
    if (!Number.isInteger(history) || history < 1 || history > MAX_HISTORY >> 1) {
      throw new RangeError(`history must be 1..${MAX_HISTORY >> 1}`);
    }
    this.history = history;
    // A user's history holds the current session, HISTORY past sessions and HISTORY trades.
    this.seenWidth = 2 * history + 1;
    this.ips = ips;
    this.pageBits = Math.min(12, Math.max(0, Math.ceil(Math.log2(Math.max(1, pageSize)))));
    this.pageMask = (1 << this.pageBits) - 1;
  }

  get size(): number {
    return this.userIds.length;
  }

  /** Bytes of typed-array storage per user slot. */
  get bytesPerSlot(): number {
    return 4 + this.history * 12 + this.seenWidth * 8 + META;
  }

  private addPage(): void {
    const n = 1 << this.pageBits;
    const amounts = new Float64Array(n * this.history);
    const seen = new Uint32Array(n * this.seenWidth * 2);
    this.pages.push({
      session: new Uint32Array(n).fill(NO_IP),
      past: new Uint32Array(n * this.history),
      amounts,
      seen,
      meta: new Uint8Array(n * META),
      amountBytes: Buffer.from(amounts.buffer, amounts.byteOffset, amounts.byteLength),
      seenBytes: Buffer.from(seen.buffer, seen.byteOffset, seen.byteLength),
    });
  }

  private page(slot: number): Page {
    return this.pages[slot >>> this.pageBits]!;
  }

  slot(userId: string): number {
    let slot = this.slotOf.get(userId);
    if (slot === undefined) {
      slot = this.userIds.length;
      if ((slot & this.pageMask) === 0) this.addPage();
      this.userIds.push(userId);
      this.slotOf.set(userId, slot);
    }
    return slot;
  }

  has(userId: string): boolean {
    return this.slotOf.has(userId);
  }

  userIdOf(slot: number): string {
    return this.userIds[slot]!;
  }

  private markDirty(p: Page, r: number, slot: number): void {
    if (p.meta[r * META + DIRTY] === 0) {
      p.meta[r * META + DIRTY] = 1;
      this.dirty.push(slot);
    }
  }

  hasSeen(slot: number, low: number, high: number): boolean {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const n = p.meta[r * META + SEEN_N]!;
    const row = r * this.seenWidth * 2;
    const seen = p.seen;
    for (let i = 0; i < n; i++) {
      if (seen[row + 2 * i] === low && seen[row + 2 * i + 1] === high) return true;
    }
    return false;
  }

  markSeen(slot: number, low: number, high: number): void {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const at = (r * this.seenWidth + pushIndex(p.meta, r * META + SEEN_N, this.seenWidth)) * 2;
    p.seen[at] = low;
    p.seen[at + 1] = high;
    this.markDirty(p, r, slot);
  }

  /** A login: the current session (if any) becomes a past session; the new one has `ip`. */
  login(slot: number, ip: string): void {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const current = p.session[r]!;
    if (current !== NO_IP) {
      p.past[r * this.history + pushIndex(p.meta, r * META + PAST_N, this.history)] = current;
    }
    p.session[r] = this.ips.intern(ip);
    this.markDirty(p, r, slot);
  }

  addTrade(slot: number, amount: number): void {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    p.amounts[r * this.history + pushIndex(p.meta, r * META + TRADE_N, this.history)] = amount;
    this.markDirty(p, r, slot);
  }

  tradeCount(slot: number): number {
    return this.page(slot).meta[(slot & this.pageMask) * META + TRADE_N]!;
  }

  /** Median of the kept trade amounts (mean of the two middle values for an even count). */
  medianAmount(slot: number, scratch: Float64Array): number {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const n = p.meta[r * META + TRADE_N]!;
    const a = scratch.subarray(0, n);
    a.set(p.amounts.subarray(r * this.history, r * this.history + n));
    a.sort();
    const mid = n >> 1;
    return n % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
  }

  /** Sum of the kept trade amounts, oldest first (0 without trades). */
  sumAmounts(slot: number): number {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const h = this.history;
    const n = p.meta[r * META + TRADE_N]!;
    const head = p.meta[r * META + TRADE_HEAD]!;
    const row = r * h;
    // Oldest first, whatever the ring's rotation: a restored state sums to the very same double.
    let sum = 0;
    for (let i = 0; i < n; i++) sum += p.amounts[row + ((head + i) % h)]!;
    return sum;
  }

  /** True when the user has a session, at least one past session, and none shares its IP. */
  isNewIp(slot: number): boolean {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const current = p.session[r]!;
    const n = p.meta[r * META + PAST_N]!;
    if (current === NO_IP || n === 0) return false;
    const row = r * this.history;
    for (let i = 0; i < n; i++) if (p.past[row + i] === current) return false;
    return true;
  }

  sessionIpOf(slot: number): string | undefined {
    const code = this.page(slot).session[slot & this.pageMask]!;
    return code === NO_IP ? undefined : this.ips.lookup(code);
  }

  /** Past-session IP codes, oldest first. */
  private pastCodes(p: Page, r: number): number[] {
    const n = p.meta[r * META + PAST_N]!;
    const h = p.meta[r * META + PAST_HEAD]!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(p.past[r * this.history + ((h + i) % this.history)]!);
    return out;
  }

  /** Distinct past-session IPs, most recent first. */
  knownIps(slot: number): string[] {
    const out: string[] = [];
    for (const code of this.pastCodes(this.page(slot), slot & this.pageMask).reverse()) {
      const ip = this.ips.lookup(code);
      if (!out.includes(ip)) out.push(ip);
    }
    return out;
  }

  /**
   * The user's state for a reader, or undefined when the store holds none. Allocates; for the
   * state query, off the per-event path. Never adds a slot.
   */
  view(userId: string): UserStateView | undefined {
    const slot = this.slotOf.get(userId);
    if (slot === undefined) return undefined;
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const h = this.history;
    const tradeN = p.meta[r * META + TRADE_N]!;
    const tradeHead = p.meta[r * META + TRADE_HEAD]!;
    return {
      sessionIp: this.sessionIpOf(slot) ?? null,
      knownIps: this.pastCodes(p, r).map((c) => this.ips.lookup(c)),
      trades: Array.from({ length: tradeN }, (_, i) => p.amounts[r * h + ((tradeHead + i) % h)]!),
      median: tradeN === 0 ? null : this.medianAmount(slot, new Float64Array(tradeN)),
    };
  }

  snapshot(slot: number): UserSnapshot {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const m = r * META;
    const h = this.history;
    const tradeN = p.meta[m + TRADE_N]!;
    const tradeHead = p.meta[m + TRADE_HEAD]!;
    const seenN = p.meta[m + SEEN_N]!;
    const seenHead = p.meta[m + SEEN_HEAD]!;
    return {
      sessionIp: this.sessionIpOf(slot),
      pastIps: this.pastCodes(p, r).map((c) => this.ips.lookup(c)),
      amounts: Array.from({ length: tradeN }, (_, i) => p.amounts[r * h + ((tradeHead + i) % h)]!),
      eventHashes: Array.from({ length: seenN }, (_, i) => {
        const at = (r * this.seenWidth + ((seenHead + i) % this.seenWidth)) * 2;
        return (BigInt(p.seen[at + 1]!) << 32n) | BigInt(p.seen[at]!);
      }),
    };
  }

  private clear(p: Page, r: number): void {
    p.session[r] = NO_IP;
    p.meta.fill(0, r * META, r * META + DIRTY);
  }

  /** Replaces a user's state with a snapshot. Not marked dirty. */
  load(userId: string, snap: UserSnapshot): void {
    const slot = this.slot(userId);
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const m = r * META;
    this.clear(p, r);
    if (snap.sessionIp !== undefined) p.session[r] = this.ips.intern(snap.sessionIp);
    for (const ip of snap.pastIps.slice(-this.history)) {
      p.past[r * this.history + pushIndex(p.meta, m + PAST_N, this.history)] = this.ips.intern(ip);
    }
    for (const a of snap.amounts.slice(-this.history)) {
      p.amounts[r * this.history + pushIndex(p.meta, m + TRADE_N, this.history)] = a;
    }
    for (const e of snap.eventHashes.slice(-this.seenWidth)) {
      const at = (r * this.seenWidth + pushIndex(p.meta, m + SEEN_N, this.seenWidth)) * 2;
      p.seen[at] = Number(e & 0xffffffffn);
      p.seen[at + 1] = Number(e >> 32n);
    }
  }

  /** An upper bound of one user's encoded size, bytes. */
  get maxEncodedSize(): number {
    return 5 + (this.history + 1) * 256 + this.history * 8 + this.seenWidth * 8;
  }

  /**
   * Writes the user's state in the changelog encoding (the bytes `encodeUserState` writes for
   * its snapshot) at `buf[offset]`; returns the offset after it. `buf` must have
   * `maxEncodedSize` bytes free.
   */
  encodeInto(slot: number, buf: Buffer, offset: number): number {
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const m = r * META;
    const h = this.history;
    const w = this.seenWidth;
    const meta = p.meta;
    let o = offset;
    buf[o++] = STATE_VERSION;
    const session = p.session[r]!;
    buf[o++] = session === NO_IP ? 0 : 1;
    if (session !== NO_IP) o = writeIp(buf, o, session, this.ips);
    const pastN = meta[m + PAST_N]!;
    const pastHead = meta[m + PAST_HEAD]!;
    buf[o++] = pastN;
    for (let i = 0; i < pastN; i++) o = writeIp(buf, o, p.past[r * h + ((pastHead + i) % h)]!, this.ips);
    // f64 and (low, high) u32 pairs are little-endian in the columns as in the record.
    const tradeN = meta[m + TRADE_N]!;
    buf[o++] = tradeN;
    o = copyRingOut(p.amountBytes, r * h * 8, tradeN, meta[m + TRADE_HEAD]!, h, buf, o);
    const seenN = meta[m + SEEN_N]!;
    buf[o++] = seenN;
    return copyRingOut(p.seenBytes, r * w * 8, seenN, meta[m + SEEN_HEAD]!, w, buf, o);
  }

  /**
   * Replaces a user's state with an encoded one (restore from the changelog), reading the
   * encoding straight into the columns. Not marked dirty. Throws StateDecodeError on bad input.
   */
  loadEncoded(userId: string, buf: Buffer): void {
    const version = buf.length > 0 ? buf[0]! : -1;
    if (version !== 1 && version !== STATE_VERSION) {
      throw new StateDecodeError(`unknown state version ${version}`);
    }
    const slot = this.slot(userId);
    const p = this.page(slot);
    const r = slot & this.pageMask;
    const m = r * META;
    const h = this.history;
    const w = this.seenWidth;
    this.clear(p, r);
    const end = buf.length;
    const cursor = { o: 1 };
    const need = (n: number) => {
      if (cursor.o + n > end) throw new StateDecodeError(`truncated state record (${end} bytes)`);
    };
    need(1);
    if (buf[cursor.o++] === 1) p.session[r] = readIp(buf, cursor, version, this.ips);
    need(1);
    const pastN = buf[cursor.o++]!;
    const pastSkip = Math.max(0, pastN - h);
    for (let i = 0; i < pastN; i++) {
      const code = readIp(buf, cursor, version, this.ips);
      if (i >= pastSkip) p.past[r * h + i - pastSkip] = code;
    }
    p.meta[m + PAST_N] = pastN - pastSkip;
    // Amounts (f64) and event hashes (u64 as low, high u32) are little-endian in the record, as
    // in the columns on a little-endian machine: copy the bytes of the kept (newest) entries.
    need(1);
    const tradeN = buf[cursor.o++]!;
    need(tradeN * 8);
    const tradeKeep = Math.min(tradeN, h);
    buf.copy(p.amountBytes, r * h * 8, cursor.o + (tradeN - tradeKeep) * 8, cursor.o + tradeN * 8);
    p.meta[m + TRADE_N] = tradeKeep;
    cursor.o += tradeN * 8;
    need(1);
    const seenN = buf[cursor.o++]!;
    need(seenN * 8);
    const seenKeep = Math.min(seenN, w);
    buf.copy(p.seenBytes, r * w * 8, cursor.o + (seenN - seenKeep) * 8, cursor.o + seenN * 8);
    p.meta[m + SEEN_N] = seenKeep;
  }

  /** The slots changed since the last call; the caller persists them. */
  takeDirty(): number[] {
    const out = this.dirty;
    this.dirty = [];
    for (const slot of out) this.page(slot).meta[(slot & this.pageMask) * META + DIRTY] = 0;
    return out;
  }
}
