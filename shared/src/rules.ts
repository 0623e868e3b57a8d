// Rules as data (docs/rules.md): the definition of a detection rule version as it travels on the
// compacted `rules` topic (key: rule id) and is archived in `rule_versions`, its validation, the
// making of a new version from an admin's draft, and the rule book every reader builds from the
// topic: which version of each rule applies to an event, by the event's time. Pure: no I/O.
import { TradewatchError } from './errors.ts';

export const RULE_TYPES = ['large-trade-new-ip', 'drain-recent-volume'] as const;
export type RuleType = (typeof RULE_TYPES)[number];
export const RULE_MODES = ['active', 'shadow', 'disabled'] as const;
export type RuleMode = (typeof RULE_MODES)[number];

/** The per-user state's size (trades and past sessions kept): fixed, not a parameter. */
export const RULE_HISTORY = 20;
/** Versions are UInt16 in the archive. */
export const MAX_RULE_VERSION = 65535;
const MAX_EPOCH_MS = 4294967295000;
const MAX_AMOUNT = 1e12;
const RULE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A C0 or C1 control character, or DEL (refused in texts, as the event contract does). */
const hasControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
};
const isCurrency = (s: string): boolean => s.length >= 1 && s.length <= 16 && !hasControl(s);
const MAX_CURRENCIES = 100;
export const MAX_REASON_LENGTH = 1000;

/** What a currency may change of `large-trade-new-ip`'s thresholds. */
export interface LargeTradeOverride {
  minTrades?: number;
  amountFactor?: number;
  minAmount?: number;
}

export interface LargeTradeParams {
  /** Trades the user must have made before one can be large. */
  minTrades: number;
  /** A trade is large when its amount exceeds this many times the median of the previous ones. */
  amountFactor: number;
  /** And is at least this amount (0: no minimum). */
  minAmount: number;
  /** Thresholds of trades in a given currency (the median is over all of the user's trades). */
  currencies: Record<string, LargeTradeOverride>;
}

export interface DrainParams {
  minTrades: number;
  /** The trade's share of the recent volume (its amount over itself plus the previous trades). */
  minShare: number;
  minAmount: number;
  /** Only while the session's IP is new (as `large-trade-new-ip` says it). */
  requireNewIp: boolean;
}

interface DefinitionBase {
  ruleId: string;
  version: number;
  mode: RuleMode;
  /** The version applies to events whose `ts` is at or after this, epoch ms. */
  effectiveFrom: number;
  author: string;
  reason: string;
  createdAt: number;
}

export type RuleDefinition =
  | (DefinitionBase & { type: 'large-trade-new-ip'; params: LargeTradeParams })
  | (DefinitionBase & { type: 'drain-recent-volume'; params: DrainParams });

export const DEFAULT_LARGE_TRADE_PARAMS: Readonly<LargeTradeParams> = Object.freeze({
  minTrades: 5,
  amountFactor: 3,
  minAmount: 0,
  currencies: {},
});
export const DEFAULT_DRAIN_PARAMS: Readonly<DrainParams> = Object.freeze({
  minTrades: 5,
  minShare: 0.8,
  minAmount: 0,
  requireNewIp: false,
});

export type LargeTradeRule = Extract<RuleDefinition, { type: 'large-trade-new-ip' }>;
export type DrainRule = Extract<RuleDefinition, { type: 'drain-recent-volume' }>;

/** The seed: `large-trade-new-ip` version 1 with its defaults, in force from the beginning of time. */
export const SEED_RULE: Readonly<LargeTradeRule> = Object.freeze({
  ruleId: 'large-trade-new-ip',
  version: 1,
  type: 'large-trade-new-ip',
  mode: 'active',
  params: DEFAULT_LARGE_TRADE_PARAMS,
  effectiveFrom: 0,
  author: 'tradewatch',
  reason: 'the built-in rule: a trade over 3 times the median of the last 20, from a new IP',
  createdAt: 0,
});

/** A definition (or a draft) that breaks the contract; `problems` lists every one, by path. */
export class RuleInvalidError extends TradewatchError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('RULE_INVALID', `invalid rule definition: ${problems.join('; ')}`);
    this.name = 'RuleInvalidError';
    this.problems = problems;
  }
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems; each reader returns the normalised value (or a placeholder when wrong). */
class Checker {
  readonly problems: string[] = [];
  fail(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }
  unknownFields(o: Raw, path: string, known: readonly string[]): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.fail(`${path}/${k}`, 'unknown field');
  }
  int(v: unknown, path: string, min: number, max: number): number {
    if (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max) return v as number;
    this.fail(path, `expected an integer ${min}-${max}`);
    return min;
  }
  num(v: unknown, path: string, min: number, max: number, exclusiveMin = false): number {
    if (typeof v === 'number' && Number.isFinite(v) && (exclusiveMin ? v > min : v >= min) && v <= max)
      return v;
    this.fail(path, `expected a number ${exclusiveMin ? 'over' : 'from'} ${min} to ${max}`);
    return min;
  }
  text(v: unknown, path: string, max: number): string {
    if (typeof v === 'string' && v.trim().length > 0 && v.length <= max && !hasControl(v)) return v;
    this.fail(path, `expected a non-empty string of at most ${max} characters without control characters`);
    return '';
  }
  choice<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    this.fail(path, `expected one of ${allowed.join(', ')}`);
    return allowed[0]!;
  }
}

const readLargeTrade = (c: Checker, raw: Raw, path: string): LargeTradeParams => {
  c.unknownFields(raw, path, ['minTrades', 'amountFactor', 'minAmount', 'currencies']);
  const d = DEFAULT_LARGE_TRADE_PARAMS;
  const params: LargeTradeParams = {
    minTrades:
      raw.minTrades === undefined ? d.minTrades : c.int(raw.minTrades, `${path}/minTrades`, 1, RULE_HISTORY),
    amountFactor:
      raw.amountFactor === undefined
        ? d.amountFactor
        : c.num(raw.amountFactor, `${path}/amountFactor`, 0, 1e6, true),
    minAmount:
      raw.minAmount === undefined ? d.minAmount : c.num(raw.minAmount, `${path}/minAmount`, 0, MAX_AMOUNT),
    currencies: {},
  };
  if (raw.currencies !== undefined) {
    if (!isObject(raw.currencies))
      c.fail(`${path}/currencies`, 'expected an object of currency → thresholds');
    else {
      const entries = Object.entries(raw.currencies);
      if (entries.length > MAX_CURRENCIES)
        c.fail(`${path}/currencies`, `at most ${MAX_CURRENCIES} currencies`);
      for (const [currency, o] of entries) {
        const at = `${path}/currencies/${currency}`;
        if (!isCurrency(currency)) c.fail(at, 'a currency is 1-16 characters without control characters');
        if (!isObject(o)) {
          c.fail(at, 'expected an object with minTrades, amountFactor or minAmount');
          continue;
        }
        c.unknownFields(o, at, ['minTrades', 'amountFactor', 'minAmount']);
        const override: LargeTradeOverride = {};
        if (o.minTrades !== undefined)
          override.minTrades = c.int(o.minTrades, `${at}/minTrades`, 1, RULE_HISTORY);
        if (o.amountFactor !== undefined)
          override.amountFactor = c.num(o.amountFactor, `${at}/amountFactor`, 0, 1e6, true);
        if (o.minAmount !== undefined)
          override.minAmount = c.num(o.minAmount, `${at}/minAmount`, 0, MAX_AMOUNT);
        if (Object.keys(override).length === 0) c.fail(at, 'an override changes at least one threshold');
        params.currencies[currency] = override;
      }
    }
  }
  return params;
};

const readDrain = (c: Checker, raw: Raw, path: string): DrainParams => {
  c.unknownFields(raw, path, ['minTrades', 'minShare', 'minAmount', 'requireNewIp']);
  const d = DEFAULT_DRAIN_PARAMS;
  let requireNewIp = d.requireNewIp;
  if (raw.requireNewIp !== undefined) {
    if (typeof raw.requireNewIp === 'boolean') requireNewIp = raw.requireNewIp;
    else c.fail(`${path}/requireNewIp`, 'expected true or false');
  }
  return {
    minTrades:
      raw.minTrades === undefined ? d.minTrades : c.int(raw.minTrades, `${path}/minTrades`, 1, RULE_HISTORY),
    minShare: raw.minShare === undefined ? d.minShare : c.num(raw.minShare, `${path}/minShare`, 0, 1, true),
    minAmount:
      raw.minAmount === undefined ? d.minAmount : c.num(raw.minAmount, `${path}/minAmount`, 0, MAX_AMOUNT),
    requireNewIp,
  };
};

const readParams = (c: Checker, type: RuleType, raw: unknown): LargeTradeParams | DrainParams => {
  const value = raw === undefined ? {} : raw;
  if (!isObject(value)) {
    c.fail('/params', 'expected an object');
    return type === 'large-trade-new-ip' ? { ...DEFAULT_LARGE_TRADE_PARAMS } : { ...DEFAULT_DRAIN_PARAMS };
  }
  return type === 'large-trade-new-ip' ? readLargeTrade(c, value, '/params') : readDrain(c, value, '/params');
};

const DEFINITION_FIELDS = [
  'ruleId',
  'version',
  'type',
  'mode',
  'params',
  'effectiveFrom',
  'author',
  'reason',
  'createdAt',
] as const;

const assemble = (
  base: DefinitionBase,
  type: RuleType,
  params: LargeTradeParams | DrainParams,
): RuleDefinition =>
  type === 'large-trade-new-ip'
    ? { ...base, type, params: params as LargeTradeParams }
    : { ...base, type, params: params as DrainParams };

export const isRuleId = (v: unknown): v is string => typeof v === 'string' && RULE_ID_PATTERN.test(v);

const readRuleId = (c: Checker, v: unknown, path: string): string => {
  if (isRuleId(v)) return v;
  c.fail(path, 'expected a rule id: 1-64 of a-z 0-9 . _ -, starting with a letter or digit');
  return '';
};

/** Checks a whole definition (as read from the topic); every problem is listed. */
export const checkRuleDefinition = (
  raw: unknown,
): { ok: true; definition: RuleDefinition } | { ok: false; problems: string[] } => {
  const c = new Checker();
  if (!isObject(raw)) return { ok: false, problems: ['/: expected an object'] };
  c.unknownFields(raw, '', DEFINITION_FIELDS);
  const type = c.choice(raw.type, '/type', RULE_TYPES);
  const base: DefinitionBase = {
    ruleId: readRuleId(c, raw.ruleId, '/ruleId'),
    version: c.int(raw.version, '/version', 1, MAX_RULE_VERSION),
    mode: c.choice(raw.mode, '/mode', RULE_MODES),
    effectiveFrom: c.int(raw.effectiveFrom, '/effectiveFrom', 0, MAX_EPOCH_MS),
    author: c.text(raw.author, '/author', 128),
    reason: c.text(raw.reason, '/reason', MAX_REASON_LENGTH),
    createdAt: c.int(raw.createdAt, '/createdAt', 0, MAX_EPOCH_MS),
  };
  const params = readParams(c, type, raw.params);
  return c.problems.length > 0
    ? { ok: false, problems: c.problems }
    : { ok: true, definition: assemble(base, type, params) };
};

/** checkRuleDefinition that throws RuleInvalidError. */
export const validateRuleDefinition = (raw: unknown): RuleDefinition => {
  const checked = checkRuleDefinition(raw);
  if (!checked.ok) throw new RuleInvalidError(checked.problems);
  return checked.definition;
};

/**
 * The next version of `ruleId` from an admin's draft (a definition without version, author and
 * createdAt, which are the desk's to set): version = the highest so far + 1, `effectiveFrom`
 * defaults to `now`. `versions` are the rule's versions known so far (the seed included).
 * Throws RuleInvalidError listing every problem; nothing is made then.
 */
export const nextRuleVersion = (
  ruleId: string,
  draft: unknown,
  versions: readonly RuleDefinition[],
  author: string,
  now: number,
): RuleDefinition => {
  const c = new Checker();
  if (!isObject(draft)) throw new RuleInvalidError(['/: expected an object']);
  c.unknownFields(draft, '', [
    'ruleId',
    'type',
    'mode',
    'params',
    'effectiveFrom',
    'reason',
    'version',
    'author',
    'createdAt',
  ]);
  for (const f of ['version', 'author', 'createdAt'] as const) {
    if (draft[f] !== undefined) c.fail(`/${f}`, 'is set by the desk, leave it out');
  }
  readRuleId(c, ruleId, '/ruleId');
  if (draft.ruleId !== undefined && draft.ruleId !== ruleId)
    c.fail('/ruleId', `differs from the path's ${ruleId}`);
  const type = c.choice(draft.type, '/type', RULE_TYPES);
  const previous = versions.reduce<RuleDefinition | undefined>(
    (best, v) => (best === undefined || v.version > best.version ? v : best),
    undefined,
  );
  if (previous !== undefined && previous.type !== type && draft.type !== undefined) {
    c.fail('/type', `rule ${ruleId} is of type ${previous.type}; a new type needs a new rule id`);
  }
  const version = (previous?.version ?? 0) + 1;
  if (version > MAX_RULE_VERSION) c.fail('/version', `rule ${ruleId} has no version left`);
  const params = readParams(c, type, draft.params);
  const base: DefinitionBase = {
    ruleId,
    version,
    mode: c.choice(draft.mode, '/mode', RULE_MODES),
    effectiveFrom:
      draft.effectiveFrom === undefined ? now : c.int(draft.effectiveFrom, '/effectiveFrom', 0, MAX_EPOCH_MS),
    author: c.text(author, '/author', 128),
    reason: c.text(draft.reason, '/reason', MAX_REASON_LENGTH),
    createdAt: now,
  };
  if (c.problems.length > 0) throw new RuleInvalidError(c.problems);
  return validateRuleDefinition(assemble(base, type, params));
};

/** The definition as a record value, fields in the contract's order. */
export const encodeRule = (d: RuleDefinition): string =>
  JSON.stringify({
    ruleId: d.ruleId,
    version: d.version,
    type: d.type,
    mode: d.mode,
    params: d.params,
    effectiveFrom: d.effectiveFrom,
    author: d.author,
    reason: d.reason,
    createdAt: d.createdAt,
  });

export type DecodedRule =
  | { ok: true; definition: RuleDefinition }
  | { ok: false; reason: 'not_json' | 'invalid_rule' | 'key_mismatch'; detail: string };

/** Decodes one `rules` record: JSON, a valid definition, keyed by its rule id. */
export const decodeRuleRecord = (key: Buffer | string | null, value: Buffer | string | null): DecodedRule => {
  if (value === null) return { ok: false, reason: 'invalid_rule', detail: 'record has no value' };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message };
  }
  const checked = checkRuleDefinition(raw);
  if (!checked.ok) return { ok: false, reason: 'invalid_rule', detail: checked.problems.join('; ') };
  if (key === null || key.toString() !== checked.definition.ruleId) {
    return { ok: false, reason: 'key_mismatch', detail: 'record key is not the rule id' };
  }
  return checked;
};

/** What applies to one event: the active version (if the rule is not disabled) and a shadow one. */
export interface Applicable {
  active: RuleDefinition | undefined;
  shadow: RuleDefinition | undefined;
}

const NOTHING: Applicable = Object.freeze({ active: undefined, shadow: undefined });

/**
 * Every version of every rule read so far. For an event at `ts`, a rule's governing version is
 * the highest non-shadow version whose effectiveFrom ≤ ts: if it is active its alerts go to
 * `alerts`, if disabled the rule raises nothing. Its shadow version is the highest shadow
 * version whose effectiveFrom ≤ ts and that is newer than the governing one: it is evaluated on
 * the same state and its alerts go to `alerts.shadow` only. `generation` changes with each
 * version added, so that readers can cache what they derive from the book.
 */
export class RuleBook {
  /** Each rule's versions, highest first. */
  private readonly byRule = new Map<string, RuleDefinition[]>();
  generation = 0;

  constructor(initial: readonly RuleDefinition[] = [SEED_RULE]) {
    for (const d of initial) this.add(d);
  }

  /**
   * Adds a version read from the topic. The same version again (a replay, or compaction's copy)
   * changes nothing; a different definition under a version already held is a conflict (two
   * writers raced): the first one read stays, for every reader reads the one partition in the
   * same order. The seed gives way to a version 1 read from the topic.
   */
  add(d: RuleDefinition): 'added' | 'duplicate' | 'conflict' {
    const versions = this.byRule.get(d.ruleId) ?? [];
    const at = versions.findIndex((v) => v.version === d.version);
    if (at >= 0) {
      const held = versions[at]!;
      if (encodeRule(held) === encodeRule(d)) return 'duplicate';
      if (held !== SEED_RULE) return 'conflict';
      versions.splice(at, 1);
    }
    versions.push(d);
    versions.sort((a, b) => b.version - a.version);
    this.byRule.set(d.ruleId, versions);
    this.generation++;
    return 'added';
  }

  ruleIds(): string[] {
    return [...this.byRule.keys()].sort();
  }

  /** A rule's versions, highest first. */
  versions(ruleId: string): readonly RuleDefinition[] {
    return this.byRule.get(ruleId) ?? [];
  }

  all(): RuleDefinition[] {
    return this.ruleIds().flatMap((id) => this.versions(id));
  }

  applicable(ruleId: string, ts: number): Applicable {
    const versions = this.byRule.get(ruleId);
    if (versions === undefined) return NOTHING;
    let governing: RuleDefinition | undefined;
    let shadow: RuleDefinition | undefined;
    for (const v of versions) {
      if (v.effectiveFrom > ts) continue;
      if (v.mode === 'shadow') {
        shadow ??= v;
      } else {
        governing = v;
        break;
      }
    }
    return {
      active: governing?.mode === 'active' ? governing : undefined,
      shadow:
        shadow !== undefined && (governing === undefined || shadow.version > governing.version)
          ? shadow
          : undefined,
    };
  }
}
