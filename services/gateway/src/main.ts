// Composition root of the gateway: config, Kafka producer, Redis, the HTTP app; SIGTERM drains.
import { Redis } from 'ioredis';
import { createLogger } from '@tradewatch/shared/logger';
import { createIdempotentProducer, createKafka } from '@tradewatch/shared/kafka';
import { crash, onShutdown } from '@tradewatch/shared/shutdown';
import { loadGatewayConfig } from './config.ts';
import { buildApp } from './app.ts';
import { IdempotencyStore } from './idempotency.ts';
import { RateLimiter } from './rate-limit.ts';
import { createKafkaPublisher } from './publisher.ts';

const config = loadGatewayConfig(process.env);
const log = createLogger('gateway', config.logLevel);

const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'tradewatch-gateway', logger: log });
const producer = createIdempotentProducer(kafka);
const admin = kafka.admin();
const redis = new Redis(config.redisUrl, {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2000,
  commandTimeout: 2000,
  lazyConnect: true,
});
redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));

try {
  await Promise.all([producer.connect(), admin.connect(), redis.connect()]);
  const app = await buildApp({
    logger: log,
    tokens: config.tokens,
    publisher: createKafkaPublisher(producer, config.eventsTopic, config.publishTimeoutMs),
    ledger: new IdempotencyStore(redis, config.idempotencyWindowSec),
    rateGate: new RateLimiter(redis, config.rateLimitEventsPerSec),
    readiness: [
      { name: 'kafka', check: async () => void (await admin.fetchTopicMetadata({ topics: [config.eventsTopic] })) },
      { name: 'redis', check: async () => void (await redis.ping()) },
    ],
    maxBodyBytes: config.maxBodyBytes,
    maxEventsPerRequest: config.maxEventsPerRequest,
  });
  onShutdown(log, async () => {
    // Stop accepting, finish in-flight requests, then flush and close the producer.
    await app.close();
    await producer.disconnect();
    await admin.disconnect();
    redis.disconnect();
  });
  const address = await app.listen({ host: config.host, port: config.port });
  log.info({ address, topic: config.eventsTopic, servers: config.tokens.map((t) => t.gameServerId) }, 'gateway listening');
} catch (err) {
  crash(log, err, 'gateway failed to start');
}
