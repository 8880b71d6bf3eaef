export {
  DLQ_HEADERS,
  type DeadLetter,
  type DeadLetterFailure,
  type DeadLetterPayloadStore,
  type DeadLetterSink,
  type InboundRecord,
  KafkaDeadLetterSink,
  type KafkaDeadLetterSinkOptions,
} from './dead-letter';
export { DEFAULT_RECORD_LIMITS, recordBytes, type RecordLimits, RecordTooLargeError } from './limits';
export {
  classifyFailure,
  errorCode,
  type FailureClass,
  isRetryable,
  NonRetryableError,
  SchemaValidationError,
} from './errors';
export { type ConsumedBeforeQuery, groupConsumedBefore } from './consumer-progress';
export {
  ConsumerFailedError,
  type ConsumerState,
  type ConsumerStatus,
  type EventBatchHandler,
  EventConsumer,
  type EventConsumerOptions,
  type PreparedBatchHandler,
  type PreparedEvent,
  type PreparedRecord,
} from './event-consumer';
export { EventPublisher, type PublishOptions } from './event-publisher';
export { createKafka, createProducer, ensureTopics, type KafkaSasl, type TopicSettings } from './kafka-client';
export { type MessagingLogger, silentLogger } from './logger';
export { InMemoryProcessedEventStore, MongoProcessedEventStore, type ProcessedEventStore } from './processed-events';
export {
  type AttemptResult,
  type ConsumedEvent,
  decodeRecord,
  type EventHandler,
  freshRetryState,
  type ProcessOutcome,
  RecordNotSettledError,
  RecordProcessor,
  type RecordProcessorDeps,
  type RecordRetryState,
} from './record-processor';
export {
  backoffDelay,
  consumerRestartBackoff,
  defaultRetryPolicy,
  restartDelayWithin,
  type RetryPolicy,
  withinBudget,
} from './retry';
export { RecordingProducer, type SentMessage } from './test-support/recording-producer';
