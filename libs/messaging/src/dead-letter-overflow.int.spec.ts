/**
 * A dead letter too large for the broker: the record itself fit under the broker's `message.max.bytes`, but with its
 * `dlq_*` headers it would not, and the broker refuses it (so a naive sink would block the partition forever). The
 * sink stores the value in object storage and dead-letters a pointer; the consumer moves on.
 */
import { deadLetterTopic, defineEvent, encodeCloudEventHeaders } from '@keel/contracts';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { eventually, stackEndpoints, stackKafka, TopicRecorder, uniqueName } from '@keel/testing';
import { type Admin, type Kafka, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DLQ_HEADERS, KafkaDeadLetterSink } from './dead-letter';
import { EventConsumer } from './event-consumer';
import { EventPublisher } from './event-publisher';
import { createProducer, ensureTopics } from './kafka-client';
import { DEFAULT_RECORD_LIMITS } from './limits';
import { silentLogger } from './logger';
import { MongoProcessedEventStore } from './processed-events';

/** The broker's default `message.max.bytes` (deploy/local/kafka/server.properties keeps the default). */
const BROKER_MAX_MESSAGE_BYTES = 1_048_588;

describe('dead letters over the broker’s size limit', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let connection: Connection;
  let consumer: EventConsumer | undefined;
  const objects = new ObjectStore(stackEndpoints.s3);

  beforeAll(async () => {
    kafka = stackKafka('dlq-overflow-int');
    admin = kafka.admin();
    await admin.connect();
    producer = createProducer(kafka);
    await producer.connect();
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    await objects.ensureBuckets([BUCKETS.deadLetters]);
  });

  afterAll(async () => {
    await consumer?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    await connection?.close();
  });

  it('stores the value in object storage and dead-letters a pointer the broker accepts', async () => {
    const contract = defineEvent({
      topic: `test.${uniqueName('oversized')}.sent.v1`,
      description: 'integration test event',
      schema: z.object({ name: z.string().min(1) }),
      key: (data) => data.name,
      maxBytes: 1024,
    });
    const dlq = deadLetterTopic(contract.topic);
    await ensureTopics(admin, { topics: [contract.topic, dlq], partitions: 1 });
    const store = new MongoProcessedEventStore(connection);
    await store.init();
    const handled: string[] = [];
    consumer = new EventConsumer(kafka, {
      groupId: uniqueName('group'),
      store,
      deadLetters: new KafkaDeadLetterSink(producer, { payloads: { store: objects, bucket: BUCKETS.deadLetters } }),
      logger: silentLogger,
      limits: DEFAULT_RECORD_LIMITS,
    }).on(contract, async (event) => void handled.push(event.data.name));
    await consumer.start();
    const deadLetters = await TopicRecorder.start({ topics: [dlq], kafka });

    // Just under the broker's limit: the broker takes it, KAFKA_MAX_RECORD_BYTES (1,000,000) does not.
    const headers = encodeCloudEventHeaders({ id: 'big-1', source: '/test', type: contract.topic, specversion: '1.0' });
    const value = Buffer.from(JSON.stringify({ name: 'x'.repeat(BROKER_MAX_MESSAGE_BYTES - 400) }));
    await producer.send({ topic: contract.topic, messages: [{ key: 'big', value, headers }] });
    await new EventPublisher(producer, '/keel/test').publish(contract, { name: 'after' });

    await eventually('the record after the oversized one', async () => (handled.includes('after') ? true : undefined));
    const dead = await deadLetters.waitFor(() => true).finally(() => deadLetters.stop());
    expect(dead.headers[DLQ_HEADERS.errorCode]).toBe('record-too-large');
    expect(dead.headers[DLQ_HEADERS.reason]).toMatch(/over the 1000000 bytes KAFKA_MAX_RECORD_BYTES allows/);
    expect(dead.headers[DLQ_HEADERS.payloadBytes]).toBe(String(value.length));
    const uri = dead.headers[DLQ_HEADERS.payloadUri];
    expect(uri).toMatch(new RegExp(`^s3://${BUCKETS.deadLetters}/dead-letters/${contract.topic}/[0-9a-f]{64}\\.bin$`));
    expect(JSON.parse(String(dead.value))).toEqual({
      payloadUri: uri,
      sha256: dead.headers[DLQ_HEADERS.payloadSha256],
      bytes: value.length,
    });
    const stored = await objects.getVerified({ uri: uri!, sha256: dead.headers[DLQ_HEADERS.payloadSha256]! });
    expect(stored.equals(value)).toBe(true);

    // What a sink without the pointer would have written: the broker refuses it.
    await expect(
      producer.send({ topic: dlq, messages: [{ key: 'big', value, headers: { ...headers, ...dead.headers } }] }),
    ).rejects.toThrow(/larger than the max message size/);
  });
});
