import { type Message, type Producer, type ProducerRecord, type RecordMetadata } from 'kafkajs';

/** One message a RecordingProducer was asked to send, with the topic it was sent to and its place there. */
export interface SentMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly message: Message;
}

/**
 * A kafkajs producer for unit tests that keeps what it is asked to send, in order, instead of talking to a broker.
 * Put an EventPublisher or a KafkaDeadLetterSink on it and tests see the exact records (key, value, CloudEvents and
 * `dlq_*` headers) the real ones would write. Only `send` is implemented; anything else throws.
 */
export class RecordingProducer {
  readonly sent: SentMessage[] = [];
  private failure: Error | undefined;

  /** Makes every following send reject with `error` (a broker that is down), until called with undefined. */
  failSendsWith(error: Error | undefined): void {
    this.failure = error;
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.failure) throw this.failure;
    return record.messages.map((message) => {
      const offset = String(this.sent.filter((sent) => sent.topic === record.topic).length);
      this.sent.push({ topic: record.topic, partition: 0, offset, message });
      return { topicName: record.topic, partition: 0, errorCode: 0, baseOffset: offset };
    });
  }

  /** This object typed as the kafkajs Producer that publishers and sinks take. */
  asProducer(): Producer {
    return new Proxy(this, {
      get: (target, property, receiver) => {
        if (property in target || typeof property === 'symbol' || property === 'then') {
          return Reflect.get(target, property, receiver) as unknown;
        }
        throw new Error(`RecordingProducer does not implement Producer.${String(property)}`);
      },
    }) as unknown as Producer;
  }
}
