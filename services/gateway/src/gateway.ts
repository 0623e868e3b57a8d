// Wires the gateway from its configuration: Kafka producer and admin, Redis, the adapters of the
// app's ports, and the app itself (not listening). main.ts and the integration tests both start
// the gateway through here, so the tests exercise the production wiring.
import type { FastifyInstance } from 'fastify';
import { createIdempotentProducer, createKafka } from '@tradewatch/shared/kafka';
import type { Logger } from '@tradewatch/shared/logger';
import { buildApp } from './app.ts';
import type { GatewayConfig } from './config.ts';
import { RedisAcceptedLedger } from './idempotency.ts';
import { createKafkaPublisher } from './publisher.ts';
import { RedisRateGate } from './rate-limit.ts';
import { createRedis } from './redis.ts';

export interface Gateway {
  app: FastifyInstance;
  /** Stops taking requests, finishes those in flight, flushes the producer, closes connections. */
  stop(): Promise<void>;
}

export const startGateway = async (config: Readonly<GatewayConfig>, log: Logger): Promise<Gateway> => {
  const kafka = createKafka({
    brokers: config.kafkaBrokers,
    clientId: 'tradewatch-gateway',
    logger: log,
    requestTimeout: config.publishTimeoutMs,
  });
  const producer = createIdempotentProducer(kafka);
  const admin = kafka.admin();
  const redis = createRedis({ url: config.redisUrl, logger: log });
  const closeAll = async () => {
    await producer.disconnect();
    await admin.disconnect();
    await redis.quit().catch(() => redis.disconnect());
  };
  try {
    await Promise.all([producer.connect(), admin.connect(), redis.connect()]);
    const app = await buildApp({
      logger: log,
      tokens: config.tokens,
      publisher: createKafkaPublisher(producer, {
        topic: config.eventsTopic,
        requestTimeoutMs: config.publishTimeoutMs,
      }),
      ledger: new RedisAcceptedLedger(redis, config.idempotencyWindowSec, config.redisKeyPrefix),
      rateGate: new RedisRateGate(redis, config.rateLimitEventsPerSec, config.redisKeyPrefix),
      readiness: [
        {
          name: 'kafka',
          check: async () => void (await admin.fetchTopicMetadata({ topics: [config.eventsTopic] })),
        },
        { name: 'redis', check: async () => void (await redis.ping()) },
      ],
      maxBodyBytes: config.maxBodyBytes,
      maxEventsPerRequest: config.maxEventsPerRequest,
      publishTimeoutMs: config.publishTimeoutMs,
      claimTtlMs: config.claimTtlMs,
      maxPendingEvents: config.maxPendingEvents,
    });
    return {
      app,
      async stop() {
        // app.close() answers new requests 503, waits for those in flight and for publishes
        // that outlived their request; only then is the producer flushed and disconnected.
        await app.close();
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
};
