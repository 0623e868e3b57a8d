// Generates realistic game-server traffic: players log in from a few home IPs and trade amounts
// around a personal typical value; now and then an account is taken over — a login from an IP
// never seen for that player, then a trade many times larger than usual. Deterministic for a
// given seed. Pure: no I/O.

export interface SimEvent {
  eventId: string;
  type: 'login' | 'trade';
  userId: string;
  ts: number;
  ip?: string;
  amount?: number;
  currency?: string;
  itemId?: string;
}

export interface GeneratorOptions {
  users: number;
  seed: number;
  /** Probability that an eligible trade is replaced by an account-takeover pattern. */
  takeoverRate: number;
  runId: string;
}

interface Player {
  id: string;
  homeIps: string[];
  typical: number;
  logins: number;
  trades: number;
  loggedIn: boolean;
  /** Set during a takeover: the next event is the large trade. */
  hijacked: boolean;
}

/** mulberry32: a small, fast, seedable PRNG. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** FNV-1a, 32 bits: a seed from a string. */
const fnv1a = (text: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

const ipv4 = (first: string, rnd: () => number): string => {
  const b = () => Math.floor(rnd() * 254) + 1;
  return `${first}.${b()}.${b()}.${b()}`;
};

export class TrafficGenerator {
  private readonly rnd: () => number;
  private readonly players: Player[];
  private readonly o: GeneratorOptions;
  private seq = 0;
  takeovers = 0;

  constructor(o: GeneratorOptions) {
    this.o = o;
    this.rnd = seededRandom(o.seed);
    this.players = Array.from({ length: o.users }, (_, i) => {
      const id = `player-${i.toString().padStart(6, '0')}`;
      // A player's home IPs and typical amount follow from the player's id alone, not from the
      // run's seed: a second run against the same archive and state meets the same players,
      // not strangers logging in from new IPs.
      const profile = seededRandom(fnv1a(id));
      return {
        id,
        homeIps: Array.from({ length: 1 + Math.floor(profile() * 3) }, () => ipv4('10', profile)),
        typical: Math.round(Math.exp(2 + profile() * 5) * 100) / 100,
        logins: 0,
        trades: 0,
        loggedIn: false,
        hijacked: false,
      };
    });
  }

  private ipv4(first: string): string {
    return ipv4(first, this.rnd);
  }

  private gaussian(): number {
    const u = 1 - this.rnd();
    const v = this.rnd();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  next(now: number): SimEvent {
    const p = this.players[Math.floor(this.rnd() * this.players.length)]!;
    const base = { eventId: `${this.o.runId}-${(this.seq++).toString(36)}`, userId: p.id, ts: now };
    const login = (ip: string): SimEvent => {
      p.logins++;
      p.loggedIn = true;
      return { ...base, type: 'login', ip };
    };
    const trade = (amount: number): SimEvent => {
      p.trades++;
      return {
        ...base,
        type: 'trade',
        amount: Math.max(0.01, Math.round(amount * 100) / 100),
        currency: 'gold',
        itemId: `item-${Math.floor(this.rnd() * 500)}`,
      };
    };
    if (p.hijacked) {
      p.hijacked = false;
      this.takeovers++;
      return trade(p.typical * (5 + this.rnd() * 15));
    }
    if (!p.loggedIn || this.rnd() < 0.12) {
      const eligible = p.trades >= 5 && p.logins >= 1;
      if (eligible && this.rnd() < this.o.takeoverRate * 8) {
        p.hijacked = true;
        return login(this.ipv4('203'));
      }
      return login(p.homeIps[Math.floor(this.rnd() * p.homeIps.length)]!);
    }
    return trade(p.typical * Math.exp(0.35 * this.gaussian()));
  }
}
