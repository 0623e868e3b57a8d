// Per-partition user state: each user's current session IP, the IPs of their last HISTORY past
// sessions, the amounts of their last HISTORY trades and the ids of the events behind them.
// Stored column-wise in typed arrays indexed by a user slot, so a million users cost a few
// hundred bytes each and no per-event object is kept. IPs are interned to 32-bit ids; event ids
// are kept as 64-bit hashes. Pure: no I/O.
import type { IpInterner } from './ip-interner.ts';

export const MAX_HISTORY = 255;
const NONE = -1;

export interface UserSnapshot {
  sessionIp: string | undefined;
  pastIps: string[]; // oldest first
  amounts: number[]; // oldest first
  eventHashes: bigint[]; // oldest first
}

/** A 64-bit hash of an event id, as two 32-bit halves (cyrb53's mixing, widened). */
export const hashEventId = (id: string): bigint => {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (BigInt(h2 >>> 0) << 32n) | BigInt(h1 >>> 0);
};

class Ring {
  readonly width: number;
  count: Uint8Array;
  head: Uint8Array; // index of the oldest entry
  constructor(width: number, capacity: number) {
    this.width = width;
    this.count = new Uint8Array(capacity);
    this.head = new Uint8Array(capacity);
  }
  grow(capacity: number): void {
    const count = new Uint8Array(capacity);
    count.set(this.count);
    const head = new Uint8Array(capacity);
    head.set(this.head);
    this.count = count;
    this.head = head;
  }
  /** Position (0..width) in the slot's row at which to write the next value. */
  pushIndex(slot: number): number {
    const n = this.count[slot]!;
    const h = this.head[slot]!;
    if (n < this.width) {
      this.count[slot] = n + 1;
      return (h + n) % this.width;
    }
    this.head[slot] = (h + 1) % this.width;
    return h;
  }
  /** Position of the i-th oldest value. */
  at(slot: number, i: number): number {
    return (this.head[slot]! + i) % this.width;
  }
  clear(slot: number): void {
    this.count[slot] = 0;
    this.head[slot] = 0;
  }
}

const growTyped = <T extends Int32Array | Float64Array | BigUint64Array>(
  a: T,
  size: number,
  make: (n: number) => T,
): T => {
  const b = make(size);
  b.set(a as never);
  return b;
};

export class UserStateStore {
  readonly history: number;
  readonly seenWidth: number;
  private readonly ips: IpInterner;
  private readonly slotOf = new Map<string, number>();
  private userIds: string[] = [];
  private capacity: number;
  private sessionIp: Int32Array;
  private pastIps: Int32Array;
  private readonly past: Ring;
  private amounts: Float64Array;
  private readonly trades: Ring;
  private seenHashes: BigUint64Array;
  private readonly seen: Ring;
  /** Slots changed since the last `takeDirty()`. */
  private dirty = new Set<number>();

  constructor(history: number, ips: IpInterner, initialCapacity = 1024) {
    if (!Number.isInteger(history) || history < 1 || history > MAX_HISTORY) {
      throw new RangeError(`history must be 1..${MAX_HISTORY}`);
    }
    this.history = history;
    // A user's history holds the current session, HISTORY past sessions and HISTORY trades.
    this.seenWidth = Math.min(MAX_HISTORY, 2 * history + 1);
    this.ips = ips;
    this.capacity = initialCapacity;
    this.sessionIp = new Int32Array(initialCapacity).fill(NONE);
    this.pastIps = new Int32Array(initialCapacity * history);
    this.past = new Ring(history, initialCapacity);
    this.amounts = new Float64Array(initialCapacity * history);
    this.trades = new Ring(history, initialCapacity);
    this.seenHashes = new BigUint64Array(initialCapacity * this.seenWidth);
    this.seen = new Ring(this.seenWidth, initialCapacity);
  }

  get size(): number {
    return this.userIds.length;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const h = this.history;
    const s = this.sessionIp;
    this.sessionIp = new Int32Array(cap).fill(NONE);
    this.sessionIp.set(s);
    this.pastIps = growTyped(this.pastIps, cap * h, (n) => new Int32Array(n));
    this.amounts = growTyped(this.amounts, cap * h, (n) => new Float64Array(n));
    this.seenHashes = growTyped(this.seenHashes, cap * this.seenWidth, (n) => new BigUint64Array(n));
    this.past.grow(cap);
    this.trades.grow(cap);
    this.seen.grow(cap);
    this.capacity = cap;
  }

  slot(userId: string): number {
    let slot = this.slotOf.get(userId);
    if (slot === undefined) {
      slot = this.userIds.length;
      if (slot === this.capacity) this.grow();
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

  hasSeen(slot: number, hash: bigint): boolean {
    const n = this.seen.count[slot]!;
    const row = slot * this.seenWidth;
    for (let i = 0; i < n; i++) if (this.seenHashes[row + i] === hash) return true;
    return false;
  }

  markSeen(slot: number, hash: bigint): void {
    this.seenHashes[slot * this.seenWidth + this.seen.pushIndex(slot)] = hash;
    this.dirty.add(slot);
  }

  /** A login: the current session (if any) becomes a past session; the new one has `ip`. */
  login(slot: number, ip: string): void {
    const current = this.sessionIp[slot]!;
    if (current !== NONE) this.pastIps[slot * this.history + this.past.pushIndex(slot)] = current;
    this.sessionIp[slot] = this.ips.intern(ip);
    this.dirty.add(slot);
  }

  addTrade(slot: number, amount: number): void {
    this.amounts[slot * this.history + this.trades.pushIndex(slot)] = amount;
    this.dirty.add(slot);
  }

  tradeCount(slot: number): number {
    return this.trades.count[slot]!;
  }

  /** Median of the kept trade amounts (mean of the two middle values for an even count). */
  medianAmount(slot: number, scratch: Float64Array): number {
    const n = this.trades.count[slot]!;
    const row = slot * this.history;
    const a = scratch.subarray(0, n);
    for (let i = 0; i < n; i++) a[i] = this.amounts[row + i]!;
    a.sort();
    const mid = n >> 1;
    return n % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
  }

  /** True when the user has a session, at least one past session, and none shares its IP. */
  isNewIp(slot: number): boolean {
    const current = this.sessionIp[slot]!;
    const n = this.past.count[slot]!;
    if (current === NONE || n === 0) return false;
    const row = slot * this.history;
    for (let i = 0; i < n; i++) if (this.pastIps[row + i] === current) return false;
    return true;
  }

  sessionIpOf(slot: number): string | undefined {
    const id = this.sessionIp[slot]!;
    return id === NONE ? undefined : this.ips.lookup(id);
  }

  /** Distinct past-session IPs, most recent first. */
  knownIps(slot: number): string[] {
    const out: string[] = [];
    const n = this.past.count[slot]!;
    const row = slot * this.history;
    for (let i = n - 1; i >= 0; i--) {
      const ip = this.ips.lookup(this.pastIps[row + this.past.at(slot, i)]!);
      if (!out.includes(ip)) out.push(ip);
    }
    return out;
  }

  snapshot(slot: number): UserSnapshot {
    const pastN = this.past.count[slot]!;
    const tradeN = this.trades.count[slot]!;
    const seenN = this.seen.count[slot]!;
    const h = this.history;
    return {
      sessionIp: this.sessionIpOf(slot),
      pastIps: Array.from({ length: pastN }, (_, i) =>
        this.ips.lookup(this.pastIps[slot * h + this.past.at(slot, i)]!),
      ),
      amounts: Array.from({ length: tradeN }, (_, i) => this.amounts[slot * h + this.trades.at(slot, i)]!),
      eventHashes: Array.from(
        { length: seenN },
        (_, i) => this.seenHashes[slot * this.seenWidth + this.seen.at(slot, i)]!,
      ),
    };
  }

  /** Replaces a user's state with a snapshot (restore from the changelog). Not marked dirty. */
  load(userId: string, snap: UserSnapshot): void {
    const slot = this.slot(userId);
    this.sessionIp[slot] = snap.sessionIp === undefined ? NONE : this.ips.intern(snap.sessionIp);
    this.past.clear(slot);
    this.trades.clear(slot);
    this.seen.clear(slot);
    for (const ip of snap.pastIps.slice(-this.history)) {
      this.pastIps[slot * this.history + this.past.pushIndex(slot)] = this.ips.intern(ip);
    }
    for (const a of snap.amounts.slice(-this.history)) {
      this.amounts[slot * this.history + this.trades.pushIndex(slot)] = a;
    }
    for (const e of snap.eventHashes.slice(-this.seenWidth)) {
      this.seenHashes[slot * this.seenWidth + this.seen.pushIndex(slot)] = e;
    }
  }

  /** The slots changed since the last call; the caller persists them. */
  takeDirty(): number[] {
    const out = [...this.dirty];
    this.dirty = new Set();
    return out;
  }
}
