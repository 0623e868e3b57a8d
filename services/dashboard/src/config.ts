// The fraud desk's configuration: every environment variable it reads, validated at start-up
// with every problem listed at once.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, type Env, type LogLevel, type TelemetryConfig } from '@tradewatch/shared/config';
import {
  DEFAULT_ALERTS_TOPIC,
  DEFAULT_EVENTS_TOPIC,
  DEFAULT_LABELS_TOPIC,
  DEFAULT_RULES_TOPIC,
} from '@tradewatch/shared/topology';
import { DEMO_USERS, parseUsers, type DeskUser } from './users.ts';

export interface DashboardConfig {
  host: string;
  port: number;
  kafkaBrokers: string[];
  eventsTopic: string;
  alertsTopic: string;
  labelsTopic: string;
  /** Rule definitions: read whole and followed; admins' new versions are written to it. */
  rulesTopic: string;
  /** The processors' consumer group, whose assignment says which instance owns a user. */
  processorGroupId: string;
  clickhouseUrl: URL;
  clickhouseDatabase: string;
  users: DeskUser[];
  /** True when the demo users are in use (npm start / npm run up without DASHBOARD_USERS). */
  demoUsers: boolean;
  /**
   * Key of the session cookies' signature. Set it to keep sessions valid across restarts and
   * instances; without it a random key is made at start-up (sessions end with the process).
   */
  sessionSecret: Buffer;
  sessionSecretGenerated: boolean;
  sessionTtlMs: number;
  /** Send the session cookie with `Secure` (behind TLS). */
  secureCookies: boolean;
  /** Committed alerts and labels kept in memory so that a reconnecting browser misses nothing. */
  feedBufferRecords: number;
  /** Largest `limit` of `GET /api/alerts`. */
  maxPageSize: number;
  /** The built web UI; the API still runs without it. */
  staticDir: string;
  /** Timeout of one call to a processor's state endpoint. */
  stateTimeoutMs: number;
  /** A Prometheus scraping the pipeline: the overview's live rates come from it when set. */
  prometheusUrl: URL | undefined;
  telemetry: TelemetryConfig;
  logLevel: LogLevel;
}

const here = dirname(fileURLToPath(import.meta.url));

export const loadDashboardConfig = (env: Env): Readonly<DashboardConfig> => {
  const r = new EnvReader(env);
  const demo = r.bool('TRADEWATCH_DEMO', false);
  const usersText = r.optionalString('DASHBOARD_USERS');
  let users: DeskUser[] = [];
  if (usersText !== undefined) {
    try {
      users = parseUsers(usersText);
    } catch (err) {
      r.problem(`DASHBOARD_USERS: ${(err as Error).message}`);
    }
  } else if (demo) {
    users = parseUsers(DEMO_USERS);
  } else {
    r.problem('DASHBOARD_USERS must be set (name:role:token,...; a token may be sha256:<hex>)');
  }
  const secretText = r.optionalString('DASHBOARD_SESSION_SECRET');
  if (secretText !== undefined && secretText.length < 32) {
    r.problem('DASHBOARD_SESSION_SECRET must have at least 32 characters');
  }
  const clickhouseUrl = r.url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:']);
  return r.finish('dashboard', {
    host: r.string('DASHBOARD_HOST', '127.0.0.1'),
    port: r.int('DASHBOARD_PORT', 8081, { min: 0, max: 65535 }),
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', '127.0.0.1:9092'),
    eventsTopic: r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC),
    alertsTopic: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
    labelsTopic: r.string('LABELS_TOPIC', DEFAULT_LABELS_TOPIC),
    rulesTopic: r.string('RULES_TOPIC', DEFAULT_RULES_TOPIC),
    processorGroupId: r.string('PROCESSOR_GROUP_ID', 'tradewatch-processor'),
    clickhouseUrl,
    clickhouseDatabase: r.string('CLICKHOUSE_DATABASE', 'tradewatch'),
    users,
    demoUsers: usersText === undefined && demo,
    sessionSecret: secretText === undefined ? randomBytes(32) : Buffer.from(secretText, 'utf8'),
    sessionSecretGenerated: secretText === undefined,
    sessionTtlMs: r.int('DASHBOARD_SESSION_TTL_MS', 12 * 3600 * 1000, { min: 60000 }),
    secureCookies: r.bool('DASHBOARD_SECURE_COOKIES', false),
    feedBufferRecords: r.int('DASHBOARD_FEED_BUFFER', 100000, { min: 100, max: 10000000 }),
    maxPageSize: r.int('DASHBOARD_MAX_PAGE_SIZE', 10000, { min: 1, max: 100000 }),
    staticDir: r.string('DASHBOARD_STATIC_DIR', join(here, '..', 'dist')),
    stateTimeoutMs: r.int('DASHBOARD_STATE_TIMEOUT_MS', 2000, { min: 100, max: 60000 }),
    prometheusUrl:
      r.optionalString('DASHBOARD_PROMETHEUS_URL') === undefined
        ? undefined
        : r.url('DASHBOARD_PROMETHEUS_URL', 'http://127.0.0.1:9090', ['http:', 'https:']),
    telemetry: r.telemetry(),
    logLevel: r.logLevel(),
  });
};
