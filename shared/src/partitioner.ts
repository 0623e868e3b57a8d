// The partition Kafka's default partitioner gives a keyed record: toPositive(murmur2(utf8(key)))
// modulo the partition count. The Java client (BuiltInPartitioner.partitionForKey), librdkafka's
// murmur2_random and @platformatic/kafka's compatibilityPartitioner, which every producer of ours
// uses (kafka/client.ts, kafka/transactional-producer.ts), compute exactly this, so a reader can
// tell which partition (and so which processor instance) holds a user without asking Kafka.
// Pure: no I/O.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): a signed 32-bit hash. */
export const murmur2 = (bytes: Uint8Array): number => {
  const length = bytes.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= bytes[whole + 2]! << 16;
  if (rest >= 2) h ^= bytes[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ bytes[whole]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
};

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which differs for negatives). */
export const toPositive = (n: number): number => n & 0x7fffffff;

const utf8 = new TextEncoder();

/**
 * The partition of a record keyed `key` in a topic of `partitions` partitions. The key is encoded
 * as UTF-8 the way our producers encode a string key (an unpaired surrogate becomes U+FFFD).
 */
export const partitionForKey = (key: string, partitions: number): number => {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  return toPositive(murmur2(utf8.encode(key))) % partitions;
};
