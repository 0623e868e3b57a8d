// Writing an analyst's label to the labels topic: keyed by alertId, acknowledged by every
// in-sync replica before the desk answers 201, by an idempotent producer (a retried send is not
// a second record).
import {
  classifyKafkaError,
  createIdempotentProducer,
  type Kafka,
  type Producer,
} from '@tradewatch/shared/kafka';
import { encodeLabel, type AlertLabel } from '@tradewatch/shared/labels';

export interface LabelPublisher {
  publish(label: AlertLabel): Promise<void>;
}

export class KafkaLabelPublisher implements LabelPublisher {
  private readonly producer: Producer;
  private readonly topic: string;

  constructor(kafka: Kafka, topic: string) {
    this.producer = createIdempotentProducer(kafka);
    this.topic = topic;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async publish(label: AlertLabel): Promise<void> {
    try {
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: [{ key: label.alertId, value: encodeLabel(label) }],
      });
    } catch (err) {
      throw classifyKafkaError(err);
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
