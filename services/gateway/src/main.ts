// Composition root of the gateway: config, logger, the wired gateway, listening; SIGTERM drains.
import { createLogger } from '@tradewatch/shared/logger';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { loadGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

const config = loadGatewayConfig(process.env);
const log = createLogger('gateway', config.logLevel);

try {
  const gateway = await startGateway(config, log);
  onShutdown(log, () => gateway.stop());
  const address = await gateway.app.listen({ host: config.host, port: config.port });
  log.info(
    { address, topic: config.eventsTopic, servers: [...new Set(config.tokens.map((t) => t.gameServerId))] },
    'gateway listening',
  );
} catch (err) {
  crash(log, err, 'gateway failed to start');
}
