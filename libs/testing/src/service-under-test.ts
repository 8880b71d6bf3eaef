import { type serviceEnvSchema } from '@keel/config';
import { type EventContract, type PipelineSpecV1 } from '@keel/contracts';
import { PipelineStore } from '@keel/pipelines';
import { Infrastructure, type RunningService, startService } from '@keel/service-runtime';
import { type Telemetry } from '@keel/telemetry';
import { type INestApplication, type Type } from '@nestjs/common';
import { ensureTopics } from '@keel/messaging';
import mongoose from 'mongoose';
import { stackEndpoints, uniqueName } from './local-stack';
import { stackKafka, startGroupAtTopicEnd, TopicRecorder, type TopicRecorderOptions } from './topic-recorder';

/** Telemetry that is off: the service under test exports no spans and its shutdown has nothing to flush. */
export const telemetryStub: Telemetry = {
  enabled: false,
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

/** The stack's MongoDB URL with another database name (query options kept). */
export function mongoUrlForDatabase(database: string, baseUrl = stackEndpoints.mongoUrl): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(baseUrl);
  if (!match) throw new Error(`not a MongoDB URL: ${baseUrl}`);
  return `${match[1]}/${database}${match[2] ?? ''}`;
}

export interface ServiceUnderTestOptions<Schema extends ReturnType<typeof serviceEnvSchema>> {
  /** The service's name (`features`, `training`, ...); the running instance gets a unique name derived from it. */
  service: string;
  envSchema: Schema;
  /** The app's feature modules, and any test module that overrides a provider. */
  features: Type<unknown>[];
  /**
   * The service's consumer groups by suffix (as passed to `Infrastructure.createConsumer`) and the contracts each
   * consumes. Each group is committed at its topics' current ends before the service starts, so the run handles
   * what the test publishes and not the whole history of the topic.
   */
  consumers?: Record<string, readonly EventContract[]>;
  /**
   * The MongoDB database, `keel_it_<service>` by default: services running on the stack use `keel`, so they do not
   * know the test's pipelines (they dead-letter the test's events in their own groups) and cannot touch its state.
   */
  database?: string;
  /**
   * A fixed instance name instead of a unique one, where a test asserts the name; the consumer groups are then
   * shared with any instance of that name running on the stack.
   */
  name?: string;
  /** Pipeline specs applied to the service's database before it starts, for services that read them at start-up. */
  pipelines?: readonly PipelineSpecV1[];
  /** Default: the stub (no spans exported); start real telemetry in the test and pass it here to see traces. */
  telemetry?: Telemetry;
  /** More environment variables for the service's schema. */
  env?: Record<string, string | undefined>;
  /**
   * Topics to record from the moment the service is up (what it publishes, its dead letters), kept as `recorder`
   * and stopped by `close`.
   */
  record?: Omit<TopicRecorderOptions, 'kafka' | 'clientId'>;
}

/** A service running in the test process, on ports the OS chose, against the local stack. */
export interface ServiceUnderTest {
  /** The instance name: consumer groups are `<name>.<suffix>`, events are published from `/keel/<name>`. */
  readonly name: string;
  readonly app: INestApplication;
  /** The service's own connections: its MongoDB database, object store, publisher and pipeline store. */
  readonly infra: Infrastructure;
  readonly running: RunningService;
  /** `http://127.0.0.1:<port>`. */
  readonly httpUrl: string;
  /** `127.0.0.1:<port>` when the service serves gRPC. */
  readonly grpcAddress: string | undefined;
  /** What was published to the `record` topics since start; throws when the service was started without `record`. */
  readonly recorder: TopicRecorder;
  /** The consumer group (and dead-letter `dlq_consumer`) of one of its consumers. */
  consumerGroup(suffix: string): string;
  /** Stops the recorder and then the service gracefully; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Boots one service's Nest modules with the shared runtime (`startService`), the way its `main.ts` does, but on port
 * 0, with its logs silent (`TEST_LOG_LEVEL` overrides), telemetry stubbed, a unique instance name (hence its own
 * consumer groups and processed-event ids) and its own database, so neither services running on the stack nor
 * earlier runs share its work.
 */
export async function startServiceUnderTest<Schema extends ReturnType<typeof serviceEnvSchema>>(
  options: ServiceUnderTestOptions<Schema>,
): Promise<ServiceUnderTest> {
  const name = options.name ?? uniqueName(options.service);
  const consumers = Object.entries(options.consumers ?? {});
  if (consumers.length > 0) {
    const admin = stackKafka(`${name}-setup`).admin();
    await admin.connect();
    try {
      for (const [suffix, contracts] of consumers) {
        // On a fresh stack no service has created the topics yet (services do at start-up), and a group cannot be
        // placed on a topic that does not exist: create them as the services would (3 partitions by default).
        await ensureTopics(admin, { topics: contracts.map((contract) => contract.topic) });
        await startGroupAtTopicEnd(
          admin,
          `${name}.${suffix}`,
          contracts.map((contract) => contract.topic),
        );
      }
    } finally {
      await admin.disconnect();
    }
  }
  const mongoUrl = mongoUrlForDatabase(options.database ?? `keel_it_${options.service.replace(/\W/g, '_')}`);
  if (options.pipelines?.length) {
    const connection = await mongoose.createConnection(mongoUrl).asPromise();
    try {
      const store = new PipelineStore(connection);
      await store.init();
      for (const spec of options.pipelines) await store.apply(spec);
    } finally {
      await connection.close();
    }
  }
  const running = await startService({
    name,
    envSchema: options.envSchema,
    features: options.features,
    telemetry: options.telemetry ?? telemetryStub,
    env: {
      ...process.env,
      KAFKA_BROKERS: stackEndpoints.kafkaBrokers.join(','),
      MONGO_URL: mongoUrl,
      S3_ENDPOINT: stackEndpoints.s3.endpoint,
      S3_ACCESS_KEY: stackEndpoints.s3.accessKey,
      S3_SECRET_KEY: stackEndpoints.s3.secretKey,
      S3_REGION: stackEndpoints.s3.region,
      HTTP_PORT: '0',
      GRPC_PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...options.env,
    },
  });
  let recorder: TopicRecorder | undefined;
  try {
    if (options.record) recorder = await TopicRecorder.start({ ...options.record, clientId: `${name}-recorder` });
  } catch (error) {
    await running.stop();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    name,
    app: running.app,
    infra: running.app.get(Infrastructure),
    running,
    httpUrl: `http://127.0.0.1:${running.httpPort}`,
    grpcAddress: running.grpcPort === undefined ? undefined : `127.0.0.1:${running.grpcPort}`,
    get recorder(): TopicRecorder {
      if (!recorder) throw new Error(`${name} was started without \`record\`: it records no topics`);
      return recorder;
    },
    consumerGroup: (suffix) => `${name}.${suffix}`,
    close: () =>
      (closing ??= (async () => {
        await recorder?.stop();
        await running.stop();
      })()),
  };
}
