// Wires the gateway from its configuration: Kafka producer and admin, Redis, ClickHouse (read by
// the status endpoint), the adapters of the app's ports, and the app itself (not listening).
// main.ts and the integration tests both start the gateway through here, so the tests exercise
// the production wiring.
import type { FastifyInstance } from 'fastify';
import { createClickHouse } from '@tradewatch/shared/clickhouse';
import { createKafkaClient } from '@tradewatch/shared/kafka-client';
import type { Logger } from '@tradewatch/shared/logger';
import { ensureTopology } from '@tradewatch/shared/topology';
import { buildApp, type AppTelemetry } from './app.ts';
import { hasSandboxTokens } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import { RedisAcceptedLedger } from './idempotency.ts';
import { createClickHouseArchive, createKafkaProgress } from './pipeline-progress.ts';
import { createKafkaPublisher } from './publisher.ts';
import { RedisRateGate } from './rate-limit.ts';
import { createRedis } from './redis.ts';

export interface Gateway {
  app: FastifyInstance;
  /** Stops taking requests, finishes those in flight, flushes the producer, closes connections. */
  stop(): Promise<void>;
}

export const startGateway = async (
  config: Readonly<GatewayConfig>,
  log: Logger,
  telemetry?: AppTelemetry,
): Promise<Gateway> => {
  const kafka = createKafkaClient({
    brokers: config.kafkaBrokers,
    clientId: 'tradewatch-gateway',
    logger: log,
    requestTimeoutMs: config.publishTimeoutMs,
  });
  // The producer retries a send far longer than the admin client: its retries reuse the batch's
  // sequence numbers, so a batch that the broker wrote but whose acknowledgement was lost (a
  // broker stopping) is recognised as a duplicate when the broker is back, instead of failing and
  // being published again by the client's retry. The request itself is answered 503 after
  // GATEWAY_PUBLISH_TIMEOUT_MS either way. Records are compressed (lz4 unless
  // GATEWAY_KAFKA_COMPRESSION says otherwise): every reader of the topic reads every codec.
  const producer = kafka.producer({
    compression: config.kafkaCompression,
    requestTimeoutMs: config.publishTimeoutMs,
    retries: config.producerRetries,
  });
  const admin = kafka.admin();
  const redis = createRedis({ url: config.redisUrl, logger: log });
  const clickhouse = createClickHouse({
    url: config.clickhouse.url,
    username: config.clickhouse.username,
    password: config.clickhouse.password,
    requestTimeoutMs: config.statusTimeoutMs,
    maxOpenConnections: 4,
    application: 'tradewatch-gateway',
  });
  const closeAll = async () => {
    await producer.close();
    await admin.close();
    await redis.quit().catch(() => redis.disconnect());
    await clickhouse.close();
  };
  try {
    await redis.connect();
    // Records name their partition (publisher.ts): the count is read once, here.
    const partitions = await admin.partitionCount(config.eventsTopic);
    if (hasSandboxTokens(config.tokens)) {
      await ensureTopology(admin, { sandbox: config.sandboxTopic }, { eventsPartitions: partitions });
    }
    const ledger = new RedisAcceptedLedger(redis, config.idempotencyWindowSec, config.redisKeyPrefix);
    const app = await buildApp({
      logger: log,
      tokens: config.tokens,
      publisher: createKafkaPublisher(producer, {
        targets: {
          live: { topic: config.eventsTopic, partitions },
          sandbox: { topic: config.sandboxTopic, partitions },
        },
      }),
      ledger,
      rateGate: new RedisRateGate(redis, config.rateLimitEventsPerSec, config.redisKeyPrefix),
      progress: createKafkaProgress(admin, {
        eventsTopic: config.eventsTopic,
        alertsTopic: config.alertsTopic,
        processorGroupId: config.processorGroupId,
        sinkGroupId: config.sinkGroupId,
      }),
      archive: createClickHouseArchive(clickhouse, config.clickhouse.database),
      readiness: [
        {
          name: 'kafka',
          check: async () => void (await admin.listTopics()),
        },
        { name: 'redis', check: async () => void (await redis.ping()) },
      ],
      maxBodyBytes: config.maxBodyBytes,
      maxEventsPerRequest: config.maxEventsPerRequest,
      publishTimeoutMs: config.publishTimeoutMs,
      claimTtlMs: config.claimTtlMs,
      maxPendingEvents: config.maxPendingEvents,
      statusTimeoutMs: config.statusTimeoutMs,
      publicUrl: config.publicUrl,
      ...(telemetry === undefined ? {} : { telemetry }),
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
