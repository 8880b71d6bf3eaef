import { readFileSync } from 'node:fs';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { type PlatformConfig } from '@keel/config';
import {
  createKafka,
  createProducer,
  ensureTopics,
  EventConsumer,
  type EventConsumerOptions,
  EventPublisher,
  groupConsumedBefore,
  KafkaDeadLetterSink,
  type MessagingLogger,
  MongoProcessedEventStore,
  type RetryPolicy,
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
 * each dependency's and each consumer's readiness check, and shuts down in order: consumers stop fetching and finish
 * the records in flight (module destroy, before the app's own shutdown hooks flush), then the producer, admin and
 * database connections close (application shutdown).
 */
@Injectable()
export class Infrastructure implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
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
  /** Consumer groups of this process alone, deleted at graceful shutdown. */
  private readonly ephemeralGroups: string[] = [];
  private readonly logger: Logger;
  private readonly rootLogger: Logger;
  private readonly retry: RetryPolicy;
  /** The dead-letter sink of every consumer: oversized dead letters go to object storage behind a pointer. */
  readonly deadLetters: KafkaDeadLetterSink;
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PlatformConfig,
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
      ...(config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD_FILE
        ? {
            sasl: {
              mechanism: config.KAFKA_SASL_MECHANISM,
              username: config.KAFKA_SASL_USERNAME,
              password: readSecretFile('KAFKA_SASL_PASSWORD_FILE', config.KAFKA_SASL_PASSWORD_FILE),
            },
          }
        : {}),
    });
    this.producer = createProducer(this.kafka);
    this.retry = {
      initialDelayMs: config.RETRY_INITIAL_DELAY_MS,
      maxDelayMs: config.RETRY_MAX_DELAY_MS,
      budgetMs: config.RETRY_BUDGET_MS,
    };
    this.admin = this.kafka.admin();
    this.publisher = new EventPublisher(this.producer, `/keel/${identity.name}`, config.KAFKA_MAX_RECORD_BYTES);
    this.mongo = mongoose.createConnection(config.MONGO_URL, {
      serverSelectionTimeoutMS: 10_000,
      autoIndex: false,
      ...(config.MONGO_USERNAME && config.MONGO_PASSWORD_FILE
        ? {
            auth: {
              username: config.MONGO_USERNAME,
              password: readSecretFile('MONGO_PASSWORD_FILE', config.MONGO_PASSWORD_FILE),
            },
            authSource: config.MONGO_AUTH_SOURCE,
            ...(config.MONGO_AUTH_MECHANISM ? { authMechanism: config.MONGO_AUTH_MECHANISM } : {}),
          }
        : {}),
    });
    this.processedEvents = new MongoProcessedEventStore(this.mongo);
    this.pipelines = new PipelineStore(this.mongo);
    this.objects = new ObjectStore({
      endpoint: config.S3_ENDPOINT,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
      region: config.S3_REGION,
    });
    this.deadLetters = new KafkaDeadLetterSink(this.producer, {
      maxRecordBytes: config.KAFKA_MAX_RECORD_BYTES,
      payloads: { store: this.objects, bucket: BUCKETS.deadLetters },
    });
  }

  async onModuleInit(): Promise<void> {
    // One span around start-up work, so every service shows in Jaeger from its first second.
    await withSpan('service start-up', {}, () =>
      Promise.all([
        this.mongo.asPromise().then(() => Promise.all([this.processedEvents.init(), this.pipelines.init()])),
        this.admin.connect().then(() =>
          ensureTopics(this.admin, {
            partitions: this.config.KAFKA_TOPIC_PARTITIONS,
            replicationFactor: this.config.KAFKA_REPLICATION_FACTOR,
            minInsyncReplicas: this.config.KAFKA_MIN_INSYNC_REPLICAS,
          }),
        ),
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

  /**
   * Expired processed-event ids are swept rarely, first at a random point of the interval so replicas spread out.
   * A failed sweep is logged and tried at the next interval.
   */
  onApplicationBootstrap(): void {
    const interval = this.config.PROCESSED_EVENT_SWEEP_INTERVAL_MS;
    const sweep = async () => {
      const cutoff = new Date(Date.now() - this.config.PROCESSED_EVENT_RETENTION_MS);
      try {
        const deleted = await this.processedEvents.sweep(cutoff);
        if (deleted > 0) this.logger.info({ deleted, cutoff }, 'expired processed-event ids swept');
      } catch (error) {
        this.logger.warn({ err: error }, 'processed-event sweep failed; next at the following interval');
      }
    };
    this.sweepTimer = setTimeout(
      () => {
        void sweep();
        this.sweepTimer = setInterval(() => void sweep(), interval);
        this.sweepTimer.unref();
      },
      Math.round(Math.random() * interval),
    );
    this.sweepTimer.unref();
  }

  /**
   * A consumer wired to this service's dead-letter sink, processed-events store, retry policy and logger, whose
   * state counts for readiness and whose failure to come back after a crash fails the process; started by the caller.
   */
  createConsumer(
    groupSuffix: string,
    {
      gatesReadiness = true,
      ephemeralGroup = false,
      ...options
    }: Partial<Omit<EventConsumerOptions, 'groupId' | 'store' | 'deadLetters' | 'onFatal'>> & {
      /** False: the consumer's state is reported in `/health` but does not decide readiness. */
      gatesReadiness?: boolean;
      /**
       * A group of this process alone (e.g. every serving replica follows every alias move): deleted at graceful
       * shutdown so groups do not pile up; after a kill the broker drops it once its offsets expire
       * (offsets.retention.minutes).
       */
      ephemeralGroup?: boolean;
    } = {},
  ): EventConsumer {
    const groupId = `${this.identity.name}.${groupSuffix}`;
    if (ephemeralGroup) this.ephemeralGroups.push(groupId);
    const consumer = new EventConsumer(this.kafka, {
      groupId,
      store: this.processedEvents,
      deadLetters: this.deadLetters,
      logger: this.messagingLogger(groupId),
      retry: this.retry,
      limits: { maxRecordBytes: this.config.KAFKA_MAX_RECORD_BYTES, maxDepth: this.config.JSON_MAX_DEPTH },
      restartTimeoutMs: this.config.CONSUMER_RESTART_TIMEOUT_MS,
      ...options,
      onFatal: (error) => this.health.markFatal(error.message),
    });
    this.consumers.push(consumer);
    this.health.register({
      name: `consumer ${groupId}`,
      gatesReadiness,
      check: async () => consumer.assertReady(),
    });
    return consumer;
  }

  /**
   * Whether this service's consumer group `groupSuffix` (as given to createConsumer) has committed every record that
   * `partition` of `topic` received before `before`, on whichever replica consumed them.
   */
  consumedBefore(groupSuffix: string, topic: string, partition: number, before: Date): Promise<boolean> {
    return groupConsumedBefore(this.admin, {
      groupId: `${this.identity.name}.${groupSuffix}`,
      topic,
      partition,
      before,
    });
  }

  /** Stops intake: every consumer stops fetching and finishes (and commits) the records in flight. */
  async onModuleDestroy(): Promise<void> {
    clearTimeout(this.sweepTimer);
    await Promise.allSettled(this.consumers.map((consumer) => consumer.stop()));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.consumers.map((consumer) => consumer.stop()));
    if (this.ephemeralGroups.length > 0) {
      try {
        await this.admin.deleteGroups(this.ephemeralGroups);
      } catch (error) {
        this.logger.warn(
          { err: error, groups: this.ephemeralGroups },
          'could not delete this process’s consumer groups',
        );
      }
    }
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

/** A mounted secret, read once at start-up and never logged; a missing file fails naming its variable. */
function readSecretFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
