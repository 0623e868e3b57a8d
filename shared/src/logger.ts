// pino, JSON to stdout; one root logger per process, one child per module.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const createLogger = (service: string, level: LevelWithSilent = 'info'): Logger =>
  pino({
    name: service,
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'] },
    formatters: { level: (label) => ({ level: label }) },
  });
