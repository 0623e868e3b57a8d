// Graceful shutdown for a service's main.ts: on SIGTERM or SIGINT run the stop function once,
// then exit; a second signal, or a stop that takes too long, exits at once.
import type { Logger } from './logger.ts';

export const onShutdown = (log: Logger, stop: () => Promise<void>, graceMs = 15000): void => {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'shutdown took too long, exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
};

/** Logs an unexpected failure and exits non-zero, so the supervisor (and Kafka's rebalance) take over. */
export const crash = (log: Logger, err: unknown, msg = 'fatal error'): never => {
  log.fatal({ err }, msg);
  process.exit(1);
};
