import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deadLetterTopic, defineEvent, encodeCloudEventHeaders, type EventContract } from '@keel/contracts';
import { startTelemetry, type Telemetry } from '@keel/telemetry';
import {
  eventually,
  fetchTrace,
  serviceOf,
  stackEndpoints,
  stackKafka,
  TopicRecorder,
  uniqueName,
} from '@keel/testing';
import { type Admin, type Kafka, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DLQ_HEADERS, KafkaDeadLetterSink } from './dead-letter';
import { EventConsumer } from './event-consumer';
import { EventPublisher } from './event-publisher';
import { groupConsumedBefore } from './consumer-progress';
import { createProducer, ensureTopics } from './kafka-client';
import { silentLogger } from './logger';
import { type RetryPolicy } from './retry';
import { MongoProcessedEventStore } from './processed-events';

function testContract(topic: string) {
  return defineEvent({
    topic,
    description: 'integration test event',
    schema: z.object({ name: z.string().min(1) }),
    key: (data) => data.name,
    maxBytes: 1024,
  });
}

describe('messaging against real Kafka and FerretDB', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let connection: Connection;
  let store: MongoProcessedEventStore;
  let telemetry: Telemetry;
  const consumers: EventConsumer[] = [];

  beforeAll(async () => {
    telemetry = startTelemetry('keel-test-consumer');
    kafka = stackKafka('messaging-int');
    admin = kafka.admin();
    await admin.connect();
    producer = createProducer(kafka);
    await producer.connect();
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    store = new MongoProcessedEventStore(connection);
    await store.init();
  });

  afterAll(async () => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await producer?.disconnect();
    await admin?.disconnect();
    await connection?.close();
    await telemetry?.shutdown();
  });

  async function startConsumer(
    contract: EventContract,
    handle: (name: string, id: string) => Promise<void>,
    options: { partitions?: number; retry?: RetryPolicy; groupId?: string } = {},
  ) {
    await ensureTopics(admin, {
      topics: [contract.topic, deadLetterTopic(contract.topic)],
      partitions: options.partitions ?? 1,
    });
    const consumer = new EventConsumer(kafka, {
      groupId: options.groupId ?? uniqueName('group'),
      store,
      deadLetters: new KafkaDeadLetterSink(producer),
      logger: silentLogger,
      retry: options.retry ?? { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 10 },
    }).on(contract, async (event) => handle((event.data as { name: string }).name, event.id));
    consumers.push(consumer);
    await consumer.start();
    return consumer;
  }

  it('applies an event delivered twice exactly once', async () => {
    const contract = testContract(`test.${uniqueName('dedupe')}.sent.v1`);
    const effects = connection.collection(uniqueName('effects'));
    await startConsumer(contract, async (name, id) => {
      await effects.insertOne({ name, eventId: id });
    });
    const publisher = new EventPublisher(producer, '/keel/test');
    await publisher.publish(contract, { name: 'once' }, { id: 'evt-dup' });
    await publisher.publish(contract, { name: 'once' }, { id: 'evt-dup' });
    await publisher.publish(contract, { name: 'sentinel' }, { id: 'evt-end' });

    await eventually('the sentinel event', async () =>
      (await effects.findOne({ name: 'sentinel' })) ? true : undefined,
    );
    expect(await effects.countDocuments({ name: 'once' })).toBe(1);
  });

  it('dead-letters a malformed record with its reason and keeps consuming', async () => {
    const contract = testContract(`test.${uniqueName('dlq')}.sent.v1`);
    const handled: string[] = [];
    await startConsumer(contract, async (name) => void handled.push(name));
    const deadLetters = await TopicRecorder.start({ topics: [deadLetterTopic(contract.topic)], kafka });
    await producer.send({ topic: contract.topic, messages: [{ value: 'this is not a CloudEvent' }] });
    await new EventPublisher(producer, '/keel/test').publish(contract, { name: '' }).catch(() => undefined);
    await new EventPublisher(producer, '/keel/test').publish(contract, { name: 'after' });

    await eventually('the valid record after the bad one', async () => (handled.includes('after') ? true : undefined));
    const dead = await deadLetters.waitFor(() => true).finally(() => deadLetters.stop());
    expect(dead.value).toBe('this is not a CloudEvent');
    expect(dead.headers[DLQ_HEADERS.reason]).toMatch(/CloudEvents attribute|JSON/);
    expect(dead.headers[DLQ_HEADERS.errorCode]).toBe('MalformedEventError');
    expect(dead.headers[DLQ_HEADERS.attempts]).toBe('1');
    expect(dead.headers[DLQ_HEADERS.originalTopic]).toBe(contract.topic);
    expect(dead.headers[DLQ_HEADERS.consumer]).toMatch(/^group-/);
  });

  it('tells whether a group has committed what a partition received before a time', async () => {
    const contract = testContract(`test.${uniqueName('progress')}.sent.v1`);
    const groupId = uniqueName('group');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    await startConsumer(
      contract,
      async (name) => {
        if (name === 'held') await held;
        handled.push(name);
      },
      { groupId },
    );
    const consumedBefore = (before: Date) =>
      groupConsumedBefore(admin, { groupId, topic: contract.topic, partition: 0, before });
    const publisher = new EventPublisher(producer, '/keel/test');
    const beforeAnything = new Date(Date.now() - 60_000);
    await publisher.publish(contract, { name: 'first' });
    const afterFirst = new Date(Date.now() + 1);
    await eventually('the first event committed', async () => ((await consumedBefore(afterFirst)) ? true : undefined));
    await publisher.publish(contract, { name: 'held' });
    const afterHeld = new Date(Date.now() + 1);

    expect(await consumedBefore(beforeAnything)).toBe(true);
    expect(await consumedBefore(afterHeld)).toBe(false);

    release();
    await eventually('the held event committed', async () => ((await consumedBefore(afterHeld)) ? true : undefined));
  });

  it('waits out a retryable failure on its own partition while the other partition keeps flowing', async () => {
    const contract = testContract(`test.${uniqueName('pause')}.sent.v1`);
    const groupId = uniqueName('group');
    const handled: string[] = [];
    let failures = 0;
    await startConsumer(
      contract,
      async (name) => {
        if (name === 'waits' && !handled.includes('flows')) {
          failures += 1;
          throw Object.assign(new Error('object storage unavailable'), { retryable: true });
        }
        handled.push(name);
      },
      { partitions: 2, groupId, retry: { initialDelayMs: 100, maxDelayMs: 400, budgetMs: 60_000 } },
    );
    const deadLetters = await TopicRecorder.start({ topics: [deadLetterTopic(contract.topic)], kafka });
    const send = (partition: number, name: string) =>
      producer.send({
        topic: contract.topic,
        messages: [
          {
            partition,
            value: JSON.stringify({ name }),
            headers: encodeCloudEventHeaders({
              id: name,
              source: '/keel/test',
              type: contract.topic,
              specversion: '1.0',
            }),
          },
        ],
      });
    await send(0, 'waits');
    await eventually('the first failure', async () => (failures > 0 ? true : undefined));
    await send(1, 'flows');

    await eventually('both records handled', async () => (handled.length === 2 ? true : undefined));
    expect(handled).toEqual(['flows', 'waits']);
    const committed = await eventually('both offsets committed', async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [contract.topic] });
      const byPartition = Object.fromEntries(offsets.partitions.map((p) => [p.partition, p.offset]));
      return byPartition[0] === '1' && byPartition[1] === '1' ? byPartition : undefined;
    });
    expect(committed).toEqual({ 0: '1', 1: '1' });
    await deadLetters.stop();
    expect(deadLetters.events).toEqual([]);
  });

  it('continues a producer process span in the consumer as one trace in Jaeger', async () => {
    const topic = `test.${uniqueName('trace')}.sent.v1`;
    const contract = testContract(topic);
    const handledIds: string[] = [];
    await startConsumer(contract, async (_name, id) => void handledIds.push(id));

    const script = join(__dirname, 'test-support', 'publish-traced-event.ts');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', '@swc-node/register', script, topic, 'evt-trace'],
      {
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: stackEndpoints.otlpEndpoint },
      },
    );
    const traceId = stdout.trim();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    await eventually('the traced event', async () => (handledIds.includes('evt-trace') ? true : undefined));
    await telemetry.forceFlush();

    const traceData = await eventually('the trace in Jaeger with both services', async () => {
      const found = await fetchTrace(traceId);
      const services = new Set(found?.spans.map((span) => serviceOf(found, span)));
      return services.has('keel-test-producer') && services.has('keel-test-consumer') ? found : undefined;
    });
    const consumerSpan = traceData.spans.find((span) => span.operationName === `process ${topic}`);
    expect(consumerSpan).toBeDefined();
    const parentId = consumerSpan?.references.find((ref) => ref.refType === 'CHILD_OF')?.spanID;
    const parent = traceData.spans.find((span) => span.spanID === parentId);
    expect(parent && serviceOf(traceData, parent)).toBe('keel-test-producer');
  });
});
