// Every use of the ClickHouse client library lives here: client construction, JSONEachRow
// inserts, capability detection, error classification and the one way a value becomes SQL text.
// It must work against the Debian ClickHouse 18.16 server as well as a current one, so it sends
// no query parameters and no settings the server has not reported (see docs/clickhouse-18.md).
import { Readable } from 'node:stream';
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { TradewatchError } from './errors.ts';

export type { ClickHouseClient };

export interface ClickHouseOptions {
  url: URL | string;
  username?: string | undefined;
  password?: string | undefined;
  /** Client-side deadline of one HTTP request, ms. */
  requestTimeoutMs?: number;
  maxOpenConnections?: number;
  application: string;
}

/**
 * A ClickHouse HTTP client. The client's own logging is off: callers log what failed, with
 * context, once. No default database is set, so statements name their database explicitly
 * (and the database need not exist yet when the client is created).
 */
export const createClickHouse = (opts: ClickHouseOptions): ClickHouseClient => {
  const url = new URL(opts.url.toString());
  // Credentials travel in the client options, not in the URL (and never into logs).
  const username = opts.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password = opts.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  url.username = '';
  url.password = '';
  return createClient({
    url: url.toString().replace(/\/$/, ''),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    application: opts.application,
    request_timeout: opts.requestTimeoutMs ?? 30000,
    max_open_connections: opts.maxOpenConnections ?? 10,
    compression: { request: false, response: false },
    // 18.16 closes idle connections after 3 s; under a busy event loop the idle timer fires late,
    // so stale sockets are also checked when they are taken from the pool.
    keep_alive: { enabled: true, idle_socket_ttl: 2000, eagerly_destroy_stale_sockets: true },
    log: { level: ClickHouseLogLevel.OFF },
  });
};

// ---------------------------------------------------------------------------- SQL text

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,126}$/;

/** True if `name` is a plain identifier (letters, digits, underscore; not starting with a digit). */
export const isSqlIdentifier = (name: string): boolean => IDENTIFIER.test(name);

/**
 * A database, table or column name as SQL text. Names are checked against a strict allow-list
 * rather than escaped: a name that needs escaping is a configuration mistake.
 */
export const sqlIdentifier = (name: string): string => {
  if (!IDENTIFIER.test(name)) {
    throw new TradewatchError('SQL_BAD_IDENTIFIER', `not a plain SQL identifier: ${JSON.stringify(name)}`);
  }
  return `\`${name}\``;
};

/** `database`.`table`, both checked by sqlIdentifier. */
export const sqlTable = (database: string, table: string): string =>
  `${sqlIdentifier(database)}.${sqlIdentifier(table)}`;

const STRING_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A string as a ClickHouse single-quoted literal. Backslash and quote are escaped (ClickHouse
 * reads C-style escapes in literals), and so are NUL and the usual control characters so that
 * the statement stays one readable line. ClickHouse 18.16 has no query parameters, so every value
 * that reaches SQL text goes through here (or sqlLiteral, which calls it).
 */
export const sqlString = (value: string): string =>
  `'${value.replace(/[\\'\0\b\f\n\r\t]/g, (c) => STRING_ESCAPES[c]!)}'`;

export type SqlValue = string | number | bigint | boolean | null | readonly SqlValue[];

/** Any plain value as a ClickHouse literal: strings quoted, numbers finite, arrays recursively. */
export const sqlLiteral = (value: SqlValue): string => {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return sqlString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TradewatchError('SQL_BAD_LITERAL', `not a finite number: ${String(value)}`);
    }
    // String(-0) is "0"; exponent notation (1e-7, 1e+21) is valid ClickHouse syntax.
    return String(value);
  }
  if (Array.isArray(value)) return `[${(value as readonly SqlValue[]).map((v) => sqlLiteral(v)).join(', ')}]`;
  throw new TradewatchError('SQL_BAD_LITERAL', `unsupported literal type: ${typeof value}`);
};

// ---------------------------------------------------------------------------- capabilities

export interface ClickHouseVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

export const parseClickHouseVersion = (text: string): ClickHouseVersion => {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!m)
    throw new TradewatchError(
      'CLICKHOUSE_VERSION',
      `cannot parse ClickHouse version ${JSON.stringify(text)}`,
    );
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: text.trim() };
};

/** What this server can do, as far as tradewatch cares. Everything false on 18.16. */
export interface ClickHouseCapabilities {
  version: ClickHouseVersion;
  /** `LowCardinality(T)` as a normal (not experimental) type. */
  lowCardinality: boolean;
  /** Column `CODEC(...)` clauses. */
  codecs: boolean;
  /** Table `TTL` clauses. */
  ttl: boolean;
  /** `DateTime64(3)` and `fromUnixTimestamp64Milli`. */
  dateTime64: boolean;
  /** `{name:Type}` placeholders with `param_name` values. */
  queryParameters: boolean;
  /** Names of the settings the server knows: only these may be sent. */
  settings: ReadonlySet<string>;
}

const atLeast = (v: ClickHouseVersion, major: number, minor: number): boolean =>
  v.major > major || (v.major === major && v.minor >= minor);

/**
 * Decides the capabilities from what the server reports. Versions alone would do, but where the
 * server lists a feature (data types, functions) that list is checked as well. The thresholds
 * are conservative: every feature is taken as present from 20.3 (the first LTS that has all of
 * them), never on 18.x/19.x, where some exist only behind experimental flags.
 */
export const capabilitiesOf = (
  versionText: string,
  reported: { settings: Iterable<string>; dataTypes: Iterable<string>; functions: Iterable<string> },
): ClickHouseCapabilities => {
  const version = parseClickHouseVersion(versionText);
  const dataTypes = new Set(reported.dataTypes);
  const functions = new Set(reported.functions);
  const modern = atLeast(version, 20, 3);
  return {
    version,
    lowCardinality: modern && dataTypes.has('LowCardinality'),
    codecs: modern,
    ttl: modern,
    dateTime64: modern && dataTypes.has('DateTime64') && functions.has('fromUnixTimestamp64Milli'),
    queryParameters: modern,
    settings: new Set(reported.settings),
  };
};

const CAPABILITY_FUNCTIONS = ['fromUnixTimestamp64Milli', 'toStartOfInterval', 'JSONExtractString'];

/** Asks the server for its version, settings, data types and the functions we may use. */
export const detectCapabilities = async (client: ClickHouseClient): Promise<ClickHouseCapabilities> => {
  const [version] = await queryRows<{ v: string }>(client, 'SELECT version() AS v');
  const settings = await queryRows<{ name: string }>(client, 'SELECT name FROM system.settings');
  const dataTypes = await queryRows<{ name: string }>(client, 'SELECT name FROM system.data_type_families');
  const functions = await queryRows<{ name: string }>(
    client,
    `SELECT name FROM system.functions WHERE name IN (${CAPABILITY_FUNCTIONS.map(sqlString).join(', ')})`,
  );
  return capabilitiesOf(version?.v ?? '', {
    settings: settings.map((r) => r.name),
    dataTypes: dataTypes.map((r) => r.name),
    functions: functions.map((r) => r.name),
  });
};

// ---------------------------------------------------------------------------- statements

/** Runs a SELECT and returns its rows (JSONEachRow: 64-bit integers arrive as strings). */
export const queryRows = async <T>(client: ClickHouseClient, sql: string): Promise<T[]> => {
  try {
    const rs = await client.query({ query: sql, format: 'JSONEachRow' });
    return await rs.json<T>();
  } catch (err) {
    throw classifyClickHouseError(err);
  }
};

/** Runs a statement without a result (DDL, INSERT ... SELECT). */
export const runStatement = async (client: ClickHouseClient, sql: string): Promise<void> => {
  try {
    await client.command({ query: sql });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
};

/**
 * Inserts rows that are already serialised as JSON objects, one per element, into `table`
 * (quoted, e.g. from sqlTable). Serialising is the caller's job so that 64-bit integers can be
 * written exactly (JSON.stringify cannot write a bigint). Resolves once ClickHouse has confirmed
 * the insert.
 */
export const insertJsonEachRow = (
  client: ClickHouseClient,
  table: string,
  rows: readonly string[],
): Promise<void> =>
  rows.length === 0 ? Promise.resolve() : insertJsonEachRowBody(client, table, [`${rows.join('\n')}\n`]);

/**
 * Like insertJsonEachRow, for a body that is already laid out: the pieces, concatenated, are
 * JSON objects separated by newlines. Lets a caller send buffers it holds without copying them.
 */
export const insertJsonEachRowBody = async (
  client: ClickHouseClient,
  table: string,
  pieces: readonly (string | Uint8Array)[],
): Promise<void> => {
  try {
    const res = await client.exec({
      query: `INSERT INTO ${table} FORMAT JSONEachRow`,
      values: Readable.from(pieces, { objectMode: false }),
    });
    // The response of an INSERT is empty; read it to the end so the socket returns to the pool.
    for await (const _ of res.stream) void _;
  } catch (err) {
    throw classifyClickHouseError(err);
  }
};

// ---------------------------------------------------------------------------- errors

/** Server error codes that mean "this data cannot be stored": the same rows will always fail. */
const DATA_REJECTED_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
]);

/** Server error codes that are about the server's state, not the request: retry later. */
const TRANSIENT_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (e.g. while a replica is catching up)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

/** The server's numeric error code, from the client's error or from the `Code: N` text of 18.16. */
export const clickHouseErrorCode = (err: unknown): number | undefined => {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return undefined;
  if (typeof e.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code);
  const m = typeof e.message === 'string' ? /^Code: (\d+)[,.]/.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
};

/**
 * Classifies any error of a ClickHouse call, once:
 * - `CLICKHOUSE_UNAVAILABLE` (retriable): no answer (refused, reset, timeout) or a transient
 *   server state (too many parts, memory limit, ...);
 * - `CLICKHOUSE_DATA_REJECTED` (not retriable): the server could not store these rows;
 * - `CLICKHOUSE_ERROR` (not retriable): anything else (unknown table, syntax, permissions).
 */
export const classifyClickHouseError = (err: unknown): TradewatchError => {
  if (err instanceof TradewatchError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const serverCode = clickHouseErrorCode(err);
  const short = message.split(', e.what()')[0]!.trim();
  if (serverCode === undefined) {
    return new TradewatchError('CLICKHOUSE_UNAVAILABLE', `ClickHouse unreachable: ${short}`, {
      retriable: true,
      cause: err,
    });
  }
  if (TRANSIENT_CODES.has(serverCode)) {
    return new TradewatchError('CLICKHOUSE_UNAVAILABLE', `ClickHouse busy: ${short}`, {
      retriable: true,
      cause: err,
    });
  }
  // Input-format errors name the row or the field being read; their codes vary by version
  // (an unknown Enum element is 49 on 18.16, 36 later), their wording does not.
  if (
    DATA_REJECTED_CODES.has(serverCode) ||
    /\(at row \d+\)|\(while read(?:ing)? the value of key /.test(short)
  ) {
    return new TradewatchError('CLICKHOUSE_DATA_REJECTED', short, { cause: err });
  }
  return new TradewatchError('CLICKHOUSE_ERROR', short, { cause: err });
};
