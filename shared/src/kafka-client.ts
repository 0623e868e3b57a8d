// The Kafka adapter's public entry: the port of kafka-port.ts on @platformatic/kafka. The adapter
// itself is the folder kafka/, one role a file, and its files are the only modules that import
// the client library:
//
// - kafka/client.ts: the client, the library's clients it makes and watches, the plain producer;
// - kafka/library-clients.ts: the library's clients, subclassed to ask brokers in turn;
// - kafka/transactional-producer.ts: transactions (InitProducerId, TxnOffsetCommit, KIP-447);
// - kafka/fetch-loop.ts: fetching, ours, per partition, read_committed filtered again;
// - kafka/group-consumer.ts: group membership and the assignment diff;
// - kafka/partition-reader.ts: reading partitions without a group;
// - kafka/admin.ts: topics, offsets, groups, topic configs;
// - kafka/errors.ts: every error classified once, as a TradewatchError;
// - kafka/retry.ts: retrying, back-offs, request timeouts;
// - kafka/serialisation.ts: our records as the library's messages.
export { createKafkaClient, producerPartitionForKey, type KafkaClientOptions } from './kafka/client.ts';
export { classifyKafkaError } from './kafka/errors.ts';
export { retryCause } from './kafka/retry.ts';
export type { Compression } from './kafka-port.ts';
