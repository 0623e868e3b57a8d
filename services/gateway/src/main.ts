// Composition root of the gateway: config, logger, telemetry, the wired gateway, listening;
// SIGTERM drains. The modules that load fastify and ioredis are imported only once the
// telemetry is started, so that its instrumentations see them load.
import { createLogger } from '@tradewatch/shared/logger';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { startTelemetry } from '@tradewatch/shared/telemetry';
import { loadGatewayConfig } from './config.ts';

const config = loadGatewayConfig(process.env);
const log = createLogger('gateway', config.logLevel);
const telemetry = startTelemetry({ service: 'tradewatch-gateway', config: config.telemetry, log });
const { startGateway } = await import('./gateway.ts');

try {
  const gateway = await startGateway(config, log, telemetry);
  onShutdown(log, async () => {
    await gateway.stop();
    await telemetry.shutdown();
  });
  const address = await gateway.app.listen({ host: config.host, port: config.port });
  log.info(
    {
      address,
      topic: config.eventsTopic,
      servers: [...new Set(config.tokens.map((t) => t.gameServerId))],
      tracing: telemetry.tracing,
    },
    'gateway listening',
  );
} catch (err) {
  crash(log, err, 'gateway failed to start');
}
