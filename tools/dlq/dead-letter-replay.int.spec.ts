import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deadLetterTopic, encodeCloudEventHeaders } from '@keel/contracts';
import { createProducer, ensureTopics, KafkaDeadLetterSink, NonRetryableError } from '@keel/messaging';
import { stackEndpoints, stackKafka, TopicRecorder, uniqueName } from '@keel/testing';
import { type Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayDeadLetters } from './dead-letter-replay';

/** Letters in event-id order: the two dead letters may sit on different partitions, read in either order. */
function byEventId<T extends { eventId?: string }>(letters: readonly T[]): T[] {
  return [...letters].sort((a, b) => String(a.eventId).localeCompare(String(b.eventId)));
}

/** Two records dead-lettered by two consumers, as KafkaDeadLetterSink writes them. */
async function deadLetterTwo(producer: Producer, topic: string): Promise<void> {
  const sink = new KafkaDeadLetterSink(producer);
  const record = (id: string, key: string) => ({
    topic,
    partition: 0,
    offset: '0',
    key: Buffer.from(key),
    value: Buffer.from(JSON.stringify({ name: id })),
    headers: encodeCloudEventHeaders({ id, source: '/keel/test', type: topic, specversion: '1.0' }),
  });
  await sink.send(record('evt-a', 'key-a'), {
    error: new NonRetryableError('unknown pipeline', 'unknown-pipeline'),
    consumer: 'validation.datasets',
    attempts: 1,
  });
  await sink.send(record('evt-b', 'key-b'), {
    error: new Error('storage down'),
    consumer: 'features.datasets',
    attempts: 42,
    reason: 'retries exhausted after 42 attempts in 600 s: storage down',
  });
}

describe('npm run dlq:replay against the real Kafka', () => {
  let kafka: Kafka;
  let producer: Producer;

  beforeAll(async () => {
    kafka = stackKafka('dlq-replay-int');
    producer = createProducer(kafka);
    await producer.connect();
  });
  afterAll(async () => producer?.disconnect());

  async function freshTopic(): Promise<string> {
    const topic = `test.${uniqueName('replay')}.sent.v1`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { topics: [topic, deadLetterTopic(topic)], partitions: 2 });
    await admin.disconnect();
    return topic;
  }

  it('lists on a dry run, replays each dead letter once with its key, headers and CloudEvent id, and remembers it', async () => {
    const topic = await freshTopic();
    const groupId = uniqueName('replay-group');
    await deadLetterTwo(producer, topic);
    const original = await TopicRecorder.start({ topics: [topic], kafka });
    try {
      const dry = await replayDeadLetters({ kafka, topic, groupId, dryRun: true });
      expect(byEventId(dry.letters).map((l) => [l.action, l.eventId, l.reason])).toEqual([
        ['listed', 'evt-a', 'unknown pipeline'],
        ['listed', 'evt-b', 'retries exhausted after 42 attempts in 600 s: storage down'],
      ]);

      const first = await replayDeadLetters({ kafka, topic, groupId });
      expect(byEventId(first.letters).map((l) => [l.action, l.eventId, l.consumer])).toEqual([
        ['replayed', 'evt-a', 'validation.datasets'],
        ['replayed', 'evt-b', 'features.datasets'],
      ]);
      const replayed = (await original.waitForAll(() => true, 2)).sort((a, b) =>
        String(a.key).localeCompare(String(b.key)),
      );
      expect(replayed.map((r) => [r.key, r.headers.ce_id, r.headers.ce_source])).toEqual([
        ['key-a', 'evt-a', '/keel/test'],
        ['key-b', 'evt-b', '/keel/test'],
      ]);
      for (const record of replayed) {
        expect(Object.keys(record.headers).filter((name) => name.startsWith('dlq_'))).toEqual([]);
        expect(JSON.parse(String(record.value))).toEqual({ name: record.headers.ce_id });
      }

      const second = await replayDeadLetters({ kafka, topic, groupId });
      expect(second.letters).toEqual([]);
    } finally {
      await original.stop();
    }
    expect(original.events).toHaveLength(2);
  });

  it("given --consumer, then only that consumer group's dead letters are replayed", async () => {
    const topic = await freshTopic();
    await deadLetterTwo(producer, topic);
    const report = await replayDeadLetters({
      kafka,
      topic: deadLetterTopic(topic),
      consumer: 'features.datasets',
      groupId: uniqueName('replay-group'),
    });
    expect(byEventId(report.letters).map((l) => [l.action, l.eventId])).toEqual([
      ['skipped (other consumer)', 'evt-a'],
      ['replayed', 'evt-b'],
    ]);
  });

  it('given the dead letter of a record too large to dead-letter whole, then it is reported with its payload, not sent', async () => {
    const topic = await freshTopic();
    // A limit below the record's size: the sink stores the value in object storage and dead-letters a pointer.
    const payloads = new Map<string, Buffer>();
    const store = {
      putContentAddressed: async (bucket: string, prefix: string, body: Buffer) => {
        const uri = `s3://${bucket}/${prefix}/stored.bin`;
        payloads.set(uri, body);
        return { uri, sha256: 'f'.repeat(64), sizeBytes: body.length };
      },
    };
    const sink = new KafkaDeadLetterSink(producer, {
      maxRecordBytes: 2_048,
      payloads: { store, bucket: 'dead-letters' },
    });
    await sink.send(
      {
        topic,
        partition: 0,
        offset: '7',
        key: Buffer.from('key-big'),
        value: Buffer.from(JSON.stringify({ name: 'x'.repeat(4_000) })),
        headers: encodeCloudEventHeaders({ id: 'evt-big', source: '/keel/test', type: topic, specversion: '1.0' }),
      },
      {
        error: new NonRetryableError('record too large', 'record-too-large'),
        consumer: 'ingestion.records',
        attempts: 1,
      },
    );
    const original = await TopicRecorder.start({ topics: [topic], kafka });
    try {
      const report = await replayDeadLetters({ kafka, topic, groupId: uniqueName('replay-group') });
      expect(report.letters.map((l) => [l.action, l.eventId, l.payloadUri])).toEqual([
        ['kept (oversized)', 'evt-big', `s3://dead-letters/dead-letters/${topic}/stored.bin`],
      ]);
      // Nothing went back to the original topic: the pointer is not the record.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(original.events).toEqual([]);
    } finally {
      await original.stop();
    }
  });

  it('runs as the npm script: a dry run prints each dead letter with its reason', async () => {
    const topic = await freshTopic();
    await deadLetterTwo(producer, topic);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'replay.ts'), '--topic', topic, '--dry-run'],
      { env: { ...process.env, KAFKA_BROKERS: stackEndpoints.kafkaBrokers.join(',') } },
    );
    expect(stdout).toMatch(/listed\s+test\..*\.dlq\[\d\]@\d+ -> test\..* id=evt-a consumer=validation\.datasets/);
    expect(stdout).toMatch(/reason: retries exhausted after 42 attempts in 600 s: storage down/);
    expect(stdout).toMatch(
      /^2 to replay \(dry run, nothing sent\), 0 skipped, 0 kept \(too large to replay\), from 1 dead-letter topic\(s\)/m,
    );
  });
});
