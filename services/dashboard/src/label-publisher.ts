// Writing an analyst's label to the labels topic: keyed by alertId, acknowledged by every
// in-sync replica before the desk answers 201, by an idempotent producer (a retried send is not
// a second record).
import type { KafkaClient, Producer } from '@tradewatch/shared/kafka-port';
import { encodeLabel, type AlertLabel } from '@tradewatch/shared/labels';

export interface LabelPublisher {
  publish(label: AlertLabel): Promise<void>;
}

export class KafkaLabelPublisher implements LabelPublisher {
  private readonly producer: Producer;
  private readonly topic: string;

  constructor(kafka: KafkaClient, topic: string) {
    this.producer = kafka.producer();
    this.topic = topic;
  }

  async publish(label: AlertLabel): Promise<void> {
    await this.producer.send([{ topic: this.topic, key: label.alertId, value: encodeLabel(label) }]);
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
