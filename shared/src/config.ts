// Reads and validates environment variables for a service's config module. Every problem is
// collected so that start-up reports all of them at once, not one per restart.
import { TradewatchError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * What a service's telemetry needs from the environment beyond what the OpenTelemetry SDK reads
 * itself (OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER, OTEL_BSP_*, ...).
 */
export interface TelemetryConfig {
  /**
   * Spans are recorded and exported over OTLP: an endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT
   * or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_TRACES_EXPORTER is not `none`, or
   * OTEL_TRACES_EXPORTER names an exporter. Otherwise nothing is traced.
   */
  exportTraces: boolean;
  /**
   * OTEL_TRACES_SAMPLER is set: the SDK samples as it says. Otherwise the product's default
   * applies (telemetry.ts: 1 % of new traces, and whatever a caller's sampled context asks for).
   */
  samplerFromEnv: boolean;
}

export class ConfigError extends TradewatchError {
  readonly problems: readonly string[];
  constructor(service: string, problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid ${service} configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export class EnvReader {
  private readonly problems: string[] = [];
  private readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)} must be an integer between ${min} and ${max}`);
      return fallback;
    }
    return n;
  }

  number(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    const { min = -Infinity, max = Infinity } = bounds;
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(v)} must be a number between ${min} and ${max}`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(v)} must be true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${name}=${JSON.stringify(v)} must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return v as T;
  }

  url(name: string, fallback: string, protocols: readonly string[]): URL {
    const v = this.raw(name) ?? fallback;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return u;
    } catch {
      this.problems.push(`${name}=${JSON.stringify(v)} must be a ${protocols.join(' or ')} URL`);
      return new URL(fallback);
    }
  }

  /** Comma-separated host:port list, e.g. KAFKA_BROKERS. */
  hostPorts(name: string, fallback: string): string[] {
    const v = this.raw(name) ?? fallback;
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = list.filter((hp) => !/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(hp));
    if (list.length === 0 || bad.length > 0) {
      this.problems.push(`${name}=${JSON.stringify(v)} must be a comma-separated list of host:port`);
      return fallback.split(',');
    }
    return list;
  }

  logLevel(): LogLevel {
    return this.oneOf('LOG_LEVEL', LOG_LEVELS, 'info');
  }

  telemetry(): TelemetryConfig {
    const exporter = this.raw('OTEL_TRACES_EXPORTER');
    const endpoint =
      this.raw('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? this.raw('OTEL_EXPORTER_OTLP_ENDPOINT');
    const samplerFromEnv = this.raw('OTEL_TRACES_SAMPLER') !== undefined;
    if (this.bool('OTEL_SDK_DISABLED', false)) return { exportTraces: false, samplerFromEnv };
    return {
      exportTraces: exporter === undefined ? endpoint !== undefined : exporter !== 'none',
      samplerFromEnv,
    };
  }

  /** Throws a ConfigError listing every problem found, or returns the frozen config. */
  finish<T extends object>(service: string, config: T): Readonly<T> {
    if (this.problems.length > 0) throw new ConfigError(service, this.problems);
    return Object.freeze(config);
  }
}
