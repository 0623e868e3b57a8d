// The simulator's configuration: every environment variable it reads, validated at start-up.
import { EnvReader, type Env, type LogLevel } from '@tradewatch/shared/config';

export interface SimulatorConfig {
  gatewayUrl: URL;
  token: string;
  eventsPerSec: number;
  users: number;
  batchSize: number;
  takeoverRate: number;
  durationSec: number;
  seed: number;
  logLevel: LogLevel;
}

export const loadSimulatorConfig = (env: Env): Readonly<SimulatorConfig> => {
  const r = new EnvReader(env);
  const demo = r.bool('TRADEWATCH_DEMO', false);
  const token = r.optionalString('SIM_TOKEN') ?? (demo ? 'demo-token' : undefined);
  if (token === undefined) r.problem('SIM_TOKEN is required (a bearer token from GATEWAY_TOKENS)');
  const port = r.int('GATEWAY_PORT', 8080, { min: 1, max: 65535 });
  return r.finish('simulator', {
    gatewayUrl: r.url('SIM_GATEWAY_URL', `http://127.0.0.1:${port}`, ['http:', 'https:']),
    token: token ?? '',
    eventsPerSec: r.int('SIM_RATE', 500, { min: 1, max: 1000000 }),
    users: r.int('SIM_USERS', 2000, { min: 1, max: 10000000 }),
    batchSize: r.int('SIM_BATCH', 50, { min: 1, max: 1000 }),
    takeoverRate: r.number('SIM_TAKEOVER_RATE', 0.01, { min: 0, max: 0.1 }),
    durationSec: r.int('SIM_DURATION_SEC', 0, { min: 0 }),
    seed: r.int('SIM_SEED', Date.now() % 2147483647, { min: 0 }),
    logLevel: r.logLevel(),
  });
};
