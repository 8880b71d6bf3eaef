import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { type PlatformConfig } from '@keel/config';
import {
  createKafka,
  createProducer,
  ensureTopics,
  EventConsumer,
  type EventConsumerOptions,
  EventPublisher,
  KafkaDeadLetterSink,
  type MessagingLogger,
  MongoProcessedEventStore,
} from '@keel/messaging';
import { PipelineStore } from '@keel/pipelines';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { withSpan } from '@keel/telemetry';
import { type Admin, type Kafka, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { type Logger } from 'pino';
import { HealthRegistry } from '../health/health-registry';
import { SERVICE_CONFIG, SERVICE_IDENTITY, type ServiceIdentity } from '../tokens';
import { ROOT_LOGGER } from './logger.token';

/**
 * The connections every service holds: Kafka (producer, publisher, consumers), MongoDB and object storage.
 * Connects and bootstraps topics, buckets and indexes at start-up (idempotent, so every replica may do it), registers
 * each dependency's health check, and disconnects in reverse order on shutdown after consumers have drained.
 */
@Injectable()
export class Infrastructure implements OnModuleInit, OnApplicationShutdown {
  readonly kafka: Kafka;
  readonly producer: Producer;
  readonly publisher: EventPublisher;
  readonly objects: ObjectStore;
  readonly mongo: Connection;
  readonly processedEvents: MongoProcessedEventStore;
  /** Applied pipeline specs, read by every service. */
  readonly pipelines: PipelineStore;
  private readonly admin: Admin;
  private readonly consumers: EventConsumer[] = [];
  private readonly logger: Logger;
  private readonly rootLogger: Logger;

  constructor(
    @Inject(SERVICE_CONFIG) config: PlatformConfig,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly health: HealthRegistry,
  ) {
    this.rootLogger = rootLogger;
    this.logger = rootLogger.child({ component: 'infrastructure' });
    this.kafka = createKafka({
      clientId: identity.name,
      brokers: config.KAFKA_BROKERS.split(',').map((broker) => broker.trim()),
      logger: this.messagingLogger('kafka'),
    });
    this.producer = createProducer(this.kafka);
    this.admin = this.kafka.admin();
    this.publisher = new EventPublisher(this.producer, `/keel/${identity.name}`);
    this.mongo = mongoose.createConnection(config.MONGO_URL, { serverSelectionTimeoutMS: 10_000, autoIndex: false });
    this.processedEvents = new MongoProcessedEventStore(this.mongo);
    this.pipelines = new PipelineStore(this.mongo);
    this.objects = new ObjectStore({
      endpoint: config.S3_ENDPOINT,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
      region: config.S3_REGION,
    });
  }

  async onModuleInit(): Promise<void> {
    // One span around start-up work, so every service shows in Jaeger from its first second.
    await withSpan('service start-up', {}, () =>
      Promise.all([
        this.mongo.asPromise().then(() => Promise.all([this.processedEvents.init(), this.pipelines.init()])),
        this.admin.connect().then(() => ensureTopics(this.admin)),
        this.producer.connect(),
        this.objects.ensureBuckets(Object.values(BUCKETS)),
      ]),
    );
    this.health.register({ name: 'kafka', check: async () => void (await this.admin.describeCluster()) });
    this.health.register({
      name: 'mongodb',
      check: async () => {
        if (this.mongo.readyState !== 1) throw new Error(`connection state ${this.mongo.readyState}`);
        await this.mongo.db!.admin().ping();
      },
    });
    this.health.register({ name: 'object-storage', check: () => this.objects.ping() });
  }

  /** A consumer wired to this service's dead-letter sink, processed-events store and logger; started by the caller. */
  createConsumer(
    groupSuffix: string,
    options: Partial<Omit<EventConsumerOptions, 'groupId' | 'store' | 'deadLetters'>> = {},
  ): EventConsumer {
    const groupId = `${this.identity.name}.${groupSuffix}`;
    const consumer = new EventConsumer(this.kafka, {
      groupId,
      store: this.processedEvents,
      deadLetters: new KafkaDeadLetterSink(this.producer),
      logger: this.messagingLogger(groupId),
      ...options,
    });
    this.consumers.push(consumer);
    return consumer;
  }

  async onApplicationShutdown(): Promise<void> {
    // Consumers first: they finish in-flight records (which may publish) before the producer goes away.
    await Promise.allSettled(this.consumers.map((consumer) => consumer.stop()));
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect(), this.mongo.close()]);
  }

  messagingLogger(component: string): MessagingLogger {
    const child = this.rootLogger.child({ component });
    return {
      info: (fields, message) => child.info(fields, message),
      warn: (fields, message) => child.warn(fields, message),
      error: (fields, message) => child.error(fields, message),
    };
  }
}
