// The event contract (docs/integrators.md, "Events" and "Topics"): the JSON Schema of what game servers send, its validation
// and normalisation, and the codec of the normalised record on the `game-events` topic.
// Pure: no I/O. The schemas are compiled once, at module load.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { normalizeIp } from './ip.ts';

export const MIN_TS = Date.UTC(2000, 0, 1);
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;
export const MAX_AMOUNT = 1e12;
export const DEFAULT_CURRENCY = 'gold';

const EventId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:-]+$',
  description:
    'unique per event across all game servers (prefix it with your server id, or use a UUID); the idempotency key',
});
// No C0/C1 control characters and no DEL.
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f-\\u009f]+$';
const UserId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: NO_CONTROL,
  description: 'the player; the Kafka key (a player’s events stay in order)',
});
// Titles, descriptions and examples are for the OpenAPI document; validation ignores them.
const Timestamp = Type.Union(
  [
    Type.String({
      maxLength: 64,
      title: 'RFC 3339 timestamp',
      description: 'date, time and offset (Z or ±hh:mm), optional fraction of a second',
      examples: ['2026-11-25T12:00:00Z', '2026-11-25T13:00:00.250+01:00'],
    }),
    Type.Integer({
      title: 'epoch milliseconds',
      description: 'an integer number of milliseconds since 1970-01-01T00:00:00Z (not seconds)',
      examples: [1795608000000],
    }),
  ],
  {
    description:
      'when it happened: an RFC 3339 string or integer epoch milliseconds, between 2000-01-01 and 24 h after ' +
      "the gateway's clock; stored as epoch milliseconds",
  },
);
const IP_RULE =
  'IPv4 or IPv6 (stored lower-case and compressed; an IPv4-mapped address such as ::ffff:203.0.113.10 is ' +
  'stored as 203.0.113.10; no zone id)';
const LoginIp = Type.String({
  minLength: 2,
  maxLength: 64,
  description: `the session's IP, which the rule compares with the player's last 20 sessions: ${IP_RULE}`,
  examples: ['203.0.113.7', '2001:db8::7'],
});
const TradeIp = Type.String({
  minLength: 2,
  maxLength: 64,
  description: `${IP_RULE}; archived, but not used by detection: a trade counts as made from its login session's IP`,
});
const Amount = Type.Number({
  exclusiveMinimum: 0,
  maximum: MAX_AMOUNT,
  description:
    'the value traded, > 0 and at most 1e12; compared with the median of the player’s last 20 trades',
});
const ShortText = (max: number, description?: string) =>
  Type.String({ minLength: 1, maxLength: max, pattern: NO_CONTROL, ...(description ? { description } : {}) });

export const LoginEventSchema = Type.Object(
  { eventId: EventId, type: Type.Literal('login'), userId: UserId, ts: Timestamp, ip: LoginIp },
  { additionalProperties: false, title: 'LoginEvent' },
);

export const TradeEventSchema = Type.Object(
  {
    eventId: EventId,
    type: Type.Literal('trade'),
    userId: UserId,
    ts: Timestamp,
    ip: Type.Optional(TradeIp),
    amount: Amount,
    currency: Type.Optional(ShortText(16, 'default "gold"')),
    itemId: Type.Optional(ShortText(128)),
    counterpartyId: Type.Optional(ShortText(128)),
  },
  { additionalProperties: false, title: 'TradeEvent' },
);

export const IncomingEventSchema = Type.Union([LoginEventSchema, TradeEventSchema], { title: 'Event' });
export type IncomingEvent = Static<typeof IncomingEventSchema>;

/** A validated, normalised event as it is written to `game-events`. */
export interface LoginEvent {
  eventId: string;
  type: 'login';
  userId: string;
  ts: number;
  ip: string;
  gameServerId: string;
  receivedAt: number;
}
export interface TradeEvent {
  eventId: string;
  type: 'trade';
  userId: string;
  ts: number;
  ip?: string;
  amount: number;
  currency: string;
  itemId?: string;
  counterpartyId?: string;
  gameServerId: string;
  receivedAt: number;
}
export type GameEvent = LoginEvent | TradeEvent;

export interface FieldError {
  path: string;
  message: string;
}
export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const compiledLogin = TypeCompiler.Compile(LoginEventSchema);
const compiledTrade = TypeCompiler.Compile(TradeEventSchema);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp to epoch ms, rejecting impossible dates such as Feb 30. */
export const parseRfc3339 = (text: string): number | undefined => {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  const ms = Date.parse(text.replace(' ', 'T').replace(/:60(\.|[Zz+-])/, ':59$1'));
  return Number.isFinite(ms) ? ms : undefined;
};

const TS_EXPECTED =
  'Expected an RFC 3339 timestamp (e.g. "2026-11-25T12:00:00Z") or integer epoch milliseconds';

const tsShapeMessage = (ts: unknown): string => {
  if (ts === undefined) return `Required property: ${TS_EXPECTED}`;
  if (typeof ts === 'number' && Number.isFinite(ts) && !Number.isInteger(ts)) {
    return `Expected integer epoch milliseconds, got a fraction (${ts}); or an RFC 3339 timestamp`;
  }
  return TS_EXPECTED;
};

/**
 * The range error of an integer `ts`, with a hint when it is in range once read in another unit:
 * epoch seconds (the usual mistake), microseconds or nanoseconds.
 */
const tsRangeMessage = (ts: number | string, now: number): string => {
  const range = 'Expected a time between 2000-01-01T00:00:00Z and 24 hours after the server clock';
  if (typeof ts !== 'number') return range;
  const inRange = (ms: number) => ms >= MIN_TS && ms <= now + MAX_FUTURE_MS;
  if (inRange(ts * 1000)) {
    return `${range}: ${ts} looks like epoch seconds; send milliseconds (${ts * 1000})`;
  }
  for (const [unit, per] of [
    ['microseconds', 1e3],
    ['nanoseconds', 1e6],
  ] as const) {
    if (inRange(ts / per)) {
      return `${range}: ${ts} looks like epoch ${unit}; send milliseconds (${Math.floor(ts / per)})`;
    }
  }
  return range;
};

const schemaErrors = (
  compiled: { Errors(v: unknown): Iterable<{ path: string; message: string }> },
  raw: unknown,
) => {
  const errors: FieldError[] = [];
  for (const e of compiled.Errors(raw)) {
    // A union (ts) reports each branch; one message per path is enough.
    if (errors.some((x) => x.path === e.path)) continue;
    errors.push({ path: e.path === '' ? '/' : e.path, message: e.message });
    if (errors.length >= 20) break;
  }
  return errors;
};

/**
 * Validates one event from a game server and returns it normalised (ts as epoch ms, ip
 * canonical, currency defaulted), stamped with the sender's identity.
 */
export const validateIncomingEvent = (
  raw: unknown,
  ctx: { gameServerId: string; receivedAt: number },
): Validated<GameEvent> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, errors: [{ path: '/', message: 'Expected an event object' }] };
  }
  const type = (raw as { type?: unknown }).type;
  const compiled = type === 'login' ? compiledLogin : type === 'trade' ? compiledTrade : undefined;
  if (compiled === undefined) {
    return { ok: false, errors: [{ path: '/type', message: 'Expected "login" or "trade"' }] };
  }
  const errors = compiled.Check(raw) ? [] : schemaErrors(compiled, raw);
  const ev = raw as IncomingEvent;

  let ts: number | undefined;
  const tsError = errors.findIndex((e) => e.path === '/ts');
  if (tsError >= 0) {
    // The schema's own message for the union is "Expected union value": say what ts may be.
    errors[tsError] = { path: '/ts', message: tsShapeMessage((raw as { ts?: unknown }).ts) };
  } else {
    ts = typeof ev.ts === 'number' ? ev.ts : parseRfc3339(ev.ts);
    if (ts === undefined) {
      errors.push({ path: '/ts', message: TS_EXPECTED });
    } else if (ts < MIN_TS || ts > ctx.receivedAt + MAX_FUTURE_MS) {
      errors.push({ path: '/ts', message: tsRangeMessage(ev.ts, ctx.receivedAt) });
    }
  }
  let ip: string | undefined;
  if (ev.ip !== undefined && !errors.some((e) => e.path === '/ip')) {
    ip = normalizeIp(ev.ip);
    if (ip === undefined) errors.push({ path: '/ip', message: 'Expected a valid IPv4 or IPv6 address' });
  }
  if (errors.length > 0 || ts === undefined) return { ok: false, errors };

  const base = {
    eventId: ev.eventId,
    userId: ev.userId,
    ts,
    gameServerId: ctx.gameServerId,
    receivedAt: ctx.receivedAt,
  };
  if (ev.type === 'login') return { ok: true, value: { ...base, type: 'login', ip: ip as string } };
  const trade: TradeEvent = {
    ...base,
    type: 'trade',
    amount: ev.amount,
    currency: ev.currency ?? DEFAULT_CURRENCY,
  };
  if (ip !== undefined) trade.ip = ip;
  if (ev.itemId !== undefined) trade.itemId = ev.itemId;
  if (ev.counterpartyId !== undefined) trade.counterpartyId = ev.counterpartyId;
  return { ok: true, value: trade };
};

/** The record value on `game-events`, serialised with a fixed field order. */
export const encodeEvent = (ev: GameEvent): string => JSON.stringify(ev);

export type Decoded =
  { ok: true; event: GameEvent } | { ok: false; reason: 'not_json' | 'invalid_event'; detail: string };

/**
 * Decodes and re-checks a record read from `game-events`. Records normally come from the
 * gateway, but the topic is open to any producer: a consumer never trusts its shape.
 */
export const decodeEvent = (value: Buffer | null): Decoded => {
  if (value === null) return { ok: false, reason: 'invalid_event', detail: 'record has no value' };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message };
  }
  if (typeof raw !== 'object' || raw === null) {
    return { ok: false, reason: 'invalid_event', detail: 'record is not a JSON object' };
  }
  const { gameServerId, receivedAt, ...event } = raw as Record<string, unknown>;
  if (typeof gameServerId !== 'string' || gameServerId.length === 0) {
    return { ok: false, reason: 'invalid_event', detail: '/gameServerId: Expected a non-empty string' };
  }
  if (typeof receivedAt !== 'number' || !Number.isSafeInteger(receivedAt)) {
    return { ok: false, reason: 'invalid_event', detail: '/receivedAt: Expected integer epoch milliseconds' };
  }
  const checked = validateIncomingEvent(event, { gameServerId, receivedAt });
  if (!checked.ok) {
    return {
      ok: false,
      reason: 'invalid_event',
      detail: checked.errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    };
  }
  return { ok: true, event: checked.value };
};
