export {
  DLQ_HEADERS,
  type DeadLetter,
  type DeadLetterFailure,
  type DeadLetterSink,
  type InboundRecord,
  KafkaDeadLetterSink,
} from './dead-letter';
export { errorCode, isRetryable, NonRetryableError, SchemaValidationError } from './errors';
export { EventConsumer, type EventConsumerOptions } from './event-consumer';
export { EventPublisher, type PublishOptions } from './event-publisher';
export { createKafka, createProducer, ensureTopics } from './kafka-client';
export { type MessagingLogger, silentLogger } from './logger';
export { InMemoryProcessedEventStore, MongoProcessedEventStore, type ProcessedEventStore } from './processed-events';
export {
  type ConsumedEvent,
  defaultRetryPolicy,
  type EventHandler,
  type ProcessOutcome,
  RecordProcessor,
  type RetryPolicy,
} from './record-processor';
export { RecordingProducer, type SentMessage } from './test-support/recording-producer';
