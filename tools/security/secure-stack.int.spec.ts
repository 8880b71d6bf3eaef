/**
 * The secure profile of the local stack (tools/stack/secure.ts), started by this test on its own ports and stopped
 * at the end: the broker refuses a service that uses another service's Kafka credentials (ACLs per service on
 * SASL/SCRAM users), serving's object-store user cannot write, and MongoDB (FerretDB) refuses a client that has not
 * authenticated. The clients are the services' own: the messaging lib's Kafka client and publisher, the storage lib's
 * ObjectStore and mongoose.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataRecordsV1,
  DatasetIngestedV1,
  encodeCloudEventHeaders,
  type EventContract,
  ModelTrainedV1,
  PredictionLoggedV2,
} from '@keel/contracts';
import { createKafka, type KafkaSasl } from '@keel/messaging';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { issueApiKey } from '@keel/service-runtime';
import { startServiceUnderTest } from '@keel/testing';
import { Kafka, logLevel } from 'kafkajs';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, select, up } from '../stack/lifecycle';
import {
  minioUserOf,
  secureCredentials,
  secureKafka,
  secureKafkaBrokers,
  secureMinio,
  SECURE_MONGO_PORT,
  secureMongoUrl,
  secureS3Endpoint,
} from '../stack/secure';
import { KAFKA_ADMIN_PRINCIPAL, type SecureService } from '../stack/secure-access';
import { ingestionEnvSchema } from '../../apps/ingestion/src/config';
import { IngestionModule } from '../../apps/ingestion/src/ingestion.module';

const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** The Kafka client a service builds from KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE, as `user`. */
function kafkaAs(user: string, password = secureCredentials().kafka[user]) {
  const sasl: KafkaSasl = { mechanism: 'scram-sha-512', username: user, password };
  return createKafka({ clientId: `secure-test-${user}`, brokers: secureKafkaBrokers, logger: quiet, sasl });
}

/** Sends one record of `contract`'s topic as `user`; resolves, or rejects with the broker's answer. */
async function publishAs(user: string, contract: EventContract, password?: string, key = 'secure-test'): Promise<void> {
  const producer = kafkaAs(user, password).producer({ allowAutoTopicCreation: false, retry: { retries: 1 } });
  await producer.connect();
  try {
    await producer.send({
      topic: contract.topic,
      messages: [
        {
          key,
          value: '{}',
          headers: encodeCloudEventHeaders({
            id: randomUUID(),
            source: '/secure-test',
            type: contract.topic,
            specversion: '1.0',
          }),
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * A client as `user` that records the error types the broker answered: kafkajs reports a refused FindCoordinator
 * only as "Failed to find group coordinator", with the broker's own error in a debug log line.
 */
function recordingKafkaAs(user: string): { kafka: Kafka; answers: string[] } {
  const answers: string[] = [];
  const kafka = new Kafka({
    clientId: `secure-test-${user}`,
    brokers: secureKafkaBrokers,
    sasl: { mechanism: 'scram-sha-512', username: user, password: secureCredentials().kafka[user] },
    logLevel: logLevel.DEBUG,
    retry: { retries: 2, initialRetryTime: 200 },
    logCreator:
      () =>
      ({ log }) => {
        const type = (log.error as { type?: unknown } | undefined)?.type;
        if (typeof type === 'string') answers.push(type);
      },
  });
  return { kafka, answers };
}

/** An error with the errors kafkajs wrapped it around (its `cause`s), so the broker's own answer shows. */
function withCauses(error: unknown): Error {
  const parts: string[] = [];
  for (let e = error as { message?: string; type?: string; cause?: unknown } | undefined; e; e = e.cause as never) {
    parts.push(`${e.type ? `${e.type}: ` : ''}${e.message ?? String(e)}`);
  }
  return new Error(parts.join(' <- '));
}

/**
 * Reads `contract`'s topic as `user` in group `group` until one fetch comes back (or the broker refuses). The
 * first join on a fresh broker may meet a coordinator still loading, which kafkajs retries.
 */
async function consumeAs(
  user: string,
  contract: EventContract,
  group: string,
  kafka: Kafka = kafkaAs(user),
): Promise<void> {
  const consumer = kafka.consumer({ groupId: group, retry: { retries: 5, initialRetryTime: 300 } });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [contract.topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // A fetch that came back: joined, offsets read, the topic read (a refusal crashes the consumer instead).
      consumer.on(consumer.events.FETCH, () => resolve());
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      consumer.run({ eachMessage: async () => undefined }).catch(reject);
    });
  } catch (error) {
    throw withCauses(error);
  } finally {
    await consumer.disconnect();
  }
}

const storeOf = (service: SecureService) =>
  new ObjectStore({
    endpoint: secureS3Endpoint,
    accessKey: minioUserOf(service),
    secretKey: secureCredentials().minio.users[service],
    region: 'us-east-1',
  });

describe('secure profile: per-service credentials on Kafka, the object store and MongoDB', () => {
  const servers = select(['secure']);

  beforeAll(async () => {
    await up(servers);
  }, 240_000);

  afterAll(async () => {
    await down(servers);
  }, 60_000);

  it('lets each service publish its own events and consume its own topics in its own groups', async () => {
    await expect(publishAs('ingestion', DatasetIngestedV1)).resolves.toBeUndefined();
    await expect(publishAs('upstream', DataRecordsV1)).resolves.toBeUndefined();
    await expect(consumeAs('ingestion', DataRecordsV1, `ingestion.secure-${randomUUID()}`)).resolves.toBeUndefined();
  });

  it("refuses a service that uses another service's credentials, and a wrong password", async () => {
    // Serving's user forging training's event (the forged champion of issue 13), and training's forging serving's.
    await expect(publishAs('serving', ModelTrainedV1)).rejects.toThrow(/not authorized|authorization/i);
    await expect(publishAs('training', PredictionLoggedV2)).rejects.toThrow(/not authorized|authorization/i);
    // Upstream systems publish records and labels, nothing else.
    await expect(publishAs('upstream', ModelTrainedV1)).rejects.toThrow(/not authorized|authorization/i);
    // Serving's user reading ingestion's topic, in ingestion's group and in a group of its own.
    const recording = recordingKafkaAs('serving');
    await expect(consumeAs('serving', DataRecordsV1, 'ingestion.records', recording.kafka)).rejects.toThrow(
      /group coordinator/,
    );
    expect(recording.answers).toContain('GROUP_AUTHORIZATION_FAILED');
    await expect(consumeAs('serving', DataRecordsV1, `serving.secure-${randomUUID()}`)).rejects.toThrow(
      /TOPIC_AUTHORIZATION_FAILED/,
    );
    await expect(publishAs('ingestion', DatasetIngestedV1, 'not-the-password')).rejects.toThrow(/SASL|authentic/i);
  });

  it("lets training write models and serving read them, and refuses every write with serving's user", async () => {
    const key = `secure-test/${randomUUID()}.json`;
    const training = storeOf('training');
    const serving = storeOf('serving');
    const stored = await training.putContentAddressed(BUCKETS.models, key, Buffer.from('{"model":1}'));
    await expect(serving.getVerified({ uri: stored.uri, sha256: stored.sha256 })).resolves.toEqual(
      Buffer.from('{"model":1}'),
    );
    for (const bucket of [BUCKETS.models, BUCKETS.datasets, BUCKETS.monitoring]) {
      await expect(serving.put({ bucket, key: `secure-test/${randomUUID()}` }, Buffer.from('x'))).rejects.toThrow(
        /Access Denied/i,
      );
    }
    // Nor can serving overwrite the model it reads.
    await expect(serving.put({ bucket: BUCKETS.models, key: stored.key }, Buffer.from('forged'))).rejects.toThrow(
      /Access Denied/i,
    );
    // The root user still can: the refusal is the policy's, not the bucket's.
    await expect(
      secureMinio().putObject(BUCKETS.models, `secure-test/${randomUUID()}`, Buffer.from('x')),
    ).resolves.toBeDefined();
  });

  it("refuses MongoDB commands without authentication or with a wrong password, and serves a service's user", async () => {
    // The services' own MongoDB client (mongoose), against the secure FerretDB (SCRAM-SHA-256).
    const open = async (url: string) => mongoose.createConnection(url, { serverSelectionTimeoutMS: 5_000 }).asPromise();
    const anonymous = await open(`mongodb://127.0.0.1:${SECURE_MONGO_PORT}/keel`);
    try {
      await expect(anonymous.db!.collection('secure_test').findOne({})).rejects.toThrow(/requires authentication/);
    } finally {
      await anonymous.close();
    }
    await expect(open(secureMongoUrl('registry').replace(/:[^:@/]+@/, ':wrong@'))).rejects.toThrow(
      /Authentication failed/,
    );
    const registry = await open(secureMongoUrl('registry'));
    try {
      const id = randomUUID();
      await registry.db!.collection('secure_test').insertOne({ id });
      expect(await registry.db!.collection('secure_test').countDocuments({ id })).toBe(1);
    } finally {
      await registry.close();
    }
  });

  it('runs ingestion in the prod profile on its own users alone: ready, consuming records, dead-lettering one it cannot use', async () => {
    const { kafka, minio, mongo } = secureCredentials();
    const secrets = mkdtempSync(join(tmpdir(), 'keel-secure-'));
    const secretFile = (name: string, content: string) => {
      writeFileSync(join(secrets, name), content, { mode: 0o600 });
      return join(secrets, name);
    };
    // The prod profile refuses to start without callers' authentication and without credentials for every server.
    const apiKeys = secretFile(
      'api-keys.json',
      JSON.stringify({ keys: [issueApiKey('engineer', ['engineer:*']).entry] }),
    );
    // Its own name, so its consumer groups are `ingestion.*`, the groups its ACLs name.
    const service = await startServiceUnderTest({
      service: 'ingestion',
      name: 'ingestion',
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      env: {
        KEEL_PROFILE: 'prod',
        AUTH_API_KEYS_FILE: apiKeys,
        KAFKA_BROKERS: secureKafkaBrokers.join(','),
        KAFKA_SASL_USERNAME: 'ingestion',
        KAFKA_SASL_PASSWORD_FILE: secretFile('kafka-password', kafka.ingestion),
        S3_ENDPOINT: secureS3Endpoint,
        S3_ACCESS_KEY: minioUserOf('ingestion'),
        S3_SECRET_KEY: minio.users.ingestion,
        // The password in a mounted file, not in the URL: the URL names only the server and the database.
        MONGO_URL: `mongodb://127.0.0.1:${SECURE_MONGO_PORT}/keel_it_ingestion_secure`,
        MONGO_USERNAME: minioUserOf('ingestion'),
        MONGO_PASSWORD_FILE: secretFile('mongo-password', mongo.users.ingestion),
        MONGO_AUTH_MECHANISM: 'SCRAM-SHA-256',
      },
    });
    try {
      await expect
        .poll(async () => (await fetch(`${service.httpUrl}/health/ready`)).status, { timeout: 30_000 })
        .toBe(200);
      // An upstream record that is not a valid event: ingestion dead-letters it, which its ACLs allow.
      const key = `secure-${randomUUID()}`;
      await publishAs('upstream', DataRecordsV1, undefined, key);
      const admin = secureKafka(KAFKA_ADMIN_PRINCIPAL).consumer({ groupId: `keel-admin.secure-${randomUUID()}` });
      await admin.connect();
      try {
        await admin.subscribe({ topics: [`${DataRecordsV1.topic}.dlq`], fromBeginning: true });
        const consumer = await new Promise<string>((resolve) => {
          void admin.run({
            eachMessage: async ({ message }) => {
              if (message.key?.toString() === key) resolve(String(message.headers?.dlq_consumer ?? ''));
            },
          });
        });
        expect(consumer).toBe('ingestion.records');
      } finally {
        await admin.disconnect();
      }
      // Its start-up wrote to the secure database as its own user (FerretDB refuses anonymous commands).
      const database = await mongoose
        .createConnection(secureMongoUrl('ingestion', 'keel_it_ingestion_secure'), { serverSelectionTimeoutMS: 5_000 })
        .asPromise();
      try {
        expect((await database.db!.listCollections().toArray()).length).toBeGreaterThan(0);
      } finally {
        await database.close();
      }
    } finally {
      await service.close();
    }
  }, 120_000);
});
