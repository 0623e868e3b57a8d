// Closing without cutting a reply short. fastify answers requests that arrive once app.close()
// has begun with 503 (return503OnClosing, app.ts) and waits for those in flight; meanwhile every
// reply ends its connection (a keep-alive socket that was busy when close began would otherwise
// hold the server open until its idle timeout); once the server has stopped, the work that
// outlived its request — publishes still waiting for Kafka — is waited for (`drain`).
import { unencapsulated } from './unencapsulated.ts';

export interface GracefulCloseOptions {
  /** Resolves once nothing started by a request is still running. */
  drain: () => Promise<void>;
}

export const gracefulClose = unencapsulated<GracefulCloseOptions>(
  'gateway-graceful-close',
  (app, opts, done) => {
    let closing = false;
    app.addHook('preClose', (next) => {
      closing = true;
      next();
    });
    app.addHook('onSend', (_req, reply, payload, next) => {
      if (closing) void reply.header('connection', 'close');
      next(null, payload);
    });
    app.addHook('onClose', async () => {
      await opts.drain();
    });
    done();
  },
);
