// Publishes validated events to `game-events`, keyed by userId, and resolves only once Kafka
// acknowledged them from all in-sync replicas. A publish that takes longer than the bound
// fails with a retriable error instead of hanging the request.
import { TradewatchError } from '@tradewatch/shared/errors';
import { encodeEvent, type GameEvent } from '@tradewatch/shared/events';
import { classifyKafkaError, type Producer } from '@tradewatch/shared/kafka';

export interface EventPublisher {
  publish(events: readonly GameEvent[]): Promise<void>;
}

export const createKafkaPublisher = (producer: Producer, topic: string, timeoutMs: number): EventPublisher => ({
  async publish(events) {
    if (events.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TradewatchError('PUBLISH_TIMEOUT', `Kafka did not acknowledge within ${timeoutMs} ms`, { retriable: true })),
        timeoutMs,
      );
    });
    const send = producer.send({
      topic,
      acks: -1,
      messages: events.map((ev) => ({ key: ev.userId, value: encodeEvent(ev) })),
    });
    try {
      await Promise.race([send, timeout]);
    } catch (err) {
      // A send that lost the race must not surface later as an unhandled rejection.
      send.catch(() => undefined);
      throw classifyKafkaError(err);
    } finally {
      clearTimeout(timer);
    }
  },
});
