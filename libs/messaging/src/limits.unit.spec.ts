import { DataRecordsV1, defineEvent, encodeCloudEventHeaders } from '@keel/contracts';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { DLQ_HEADERS, type DeadLetterPayloadStore, type InboundRecord, KafkaDeadLetterSink } from './dead-letter';
import { EventPublisher } from './event-publisher';
import { recordBytes, RecordTooLargeError } from './limits';
import { decodeRecord } from './record-processor';
import { RecordingProducer } from './test-support/recording-producer';

const Note = defineEvent({
  topic: 'test.note.sent.v1',
  description: 'test event',
  schema: z.object({ text: z.string() }),
  key: () => 'k',
  maxBytes: 1024,
});

const record = (value: string, extra: Partial<InboundRecord> = {}): InboundRecord => ({
  topic: Note.topic,
  partition: 1,
  offset: '42',
  key: Buffer.from('k'),
  value: Buffer.from(value),
  headers: encodeCloudEventHeaders({ id: '1', source: '/test', type: Note.topic, specversion: '1.0' }),
  ...extra,
});

class MemoryPayloads implements DeadLetterPayloadStore {
  readonly stored: { bucket: string; prefix: string; body: Buffer }[] = [];
  async putContentAddressed(bucket: string, prefix: string, body: Buffer) {
    this.stored.push({ bucket, prefix, body });
    return { uri: `s3://${bucket}/${prefix}/abc.bin`, sha256: 'abc', sizeBytes: body.length };
  }
}

describe('Kafka record limits', () => {
  it('counts key, value and header names and values in bytes (UTF-8)', () => {
    expect(recordBytes({ key: 'k', value: 'é', headers: { h: 'v', many: ['ab', Buffer.from('c')] } })).toBe(
      1 + 2 + 2 + 4 + 3,
    );
  });

  it('given a record over KAFKA_MAX_RECORD_BYTES, when decoded, then it is refused unparsed, naming the limit', () => {
    const big = record(JSON.stringify({ text: 'x'.repeat(2_000) }));
    expect(() => decodeRecord(Note, big, { maxRecordBytes: 1_500, maxDepth: 32 })).toThrow(
      /record test.note.sent.v1\/1@42 is \d+ bytes, over the 1500 bytes KAFKA_MAX_RECORD_BYTES allows/,
    );
    expect(decodeRecord(Note, big, { maxRecordBytes: 5_000, maxDepth: 32 }).data.text).toHaveLength(2_000);
  });

  it('given a record nested past JSON_MAX_DEPTH, when decoded, then it is refused before JSON.parse', () => {
    const deep = record(`{"text":"a","x":${'['.repeat(40)}${']'.repeat(40)}}`);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(() => decodeRecord(Note, deep, { maxRecordBytes: 10_000, maxDepth: 32 })).toThrow(/JSON_MAX_DEPTH/);
      // a records event in structured mode too: only binary-mode data the quick check bounds is parsed first
      const envelope = `{"specversion":"1.0","id":"1","source":"/t","type":"${DataRecordsV1.topic}","x":${'['.repeat(40)}${']'.repeat(40)}}`;
      const structured = {
        ...deep,
        topic: DataRecordsV1.topic,
        value: Buffer.from(envelope),
        headers: { 'content-type': 'application/cloudevents+json' },
      };
      expect(() => decodeRecord(DataRecordsV1, structured, { maxRecordBytes: 10_000, maxDepth: 32 })).toThrow(
        /JSON_MAX_DEPTH/,
      );
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  describe('given a records event (its quick check bounds its depth), when decoded', () => {
    const flat = { pipelineId: 'adult-income', records: [{ age: 39, city: 'x' }] };
    const records = (value: string, structured = false): InboundRecord => ({
      ...record(value),
      topic: DataRecordsV1.topic,
      headers: structured
        ? { 'content-type': 'application/cloudevents+json' }
        : encodeCloudEventHeaders({ id: '1', source: '/test', type: DataRecordsV1.topic, specversion: '1.0' }),
    });
    const limits = (maxDepth: number) => ({ maxRecordBytes: 10_000_000, maxDepth });

    it('then flat data is taken, and refused when JSON_MAX_DEPTH is below its depth', () => {
      expect(decodeRecord(DataRecordsV1, records(JSON.stringify(flat)), limits(3)).data).toEqual(flat);
      expect(() => decodeRecord(DataRecordsV1, records(JSON.stringify(flat)), limits(2))).toThrow(/JSON_MAX_DEPTH/);
    });

    it('then data nested past JSON_MAX_DEPTH is refused for its depth, whatever else is wrong with it', () => {
      const deep = `${'['.repeat(40)}${']'.repeat(40)}`;
      const cases = [
        `{"pipelineId":"adult-income","records":[{"age":${deep}}]}`,
        `{"pipelineId":"adult-income","records":[{"age":1}],"x":${deep}}`,
        `{"pipelineId":"adult-income","records":[{"age":1}],"x":${deep}`,
        deep,
      ];
      for (const value of cases) {
        expect(() => decodeRecord(DataRecordsV1, records(value), limits(32))).toThrow(/JSON_MAX_DEPTH/);
      }
      const otherType = { ...records(`{"x":${deep}}`), headers: record('').headers };
      expect(() => decodeRecord(DataRecordsV1, otherType, limits(32))).toThrow(/JSON_MAX_DEPTH/);
    });

    it('then a structured envelope is scanned whole, and a 500,000-deep value is refused without a stack overflow', () => {
      const envelope = { specversion: '1.0', id: '1', source: '/t', type: DataRecordsV1.topic, data: flat };
      expect(decodeRecord(DataRecordsV1, records(JSON.stringify(envelope), true), limits(4)).data).toEqual(flat);
      const deepExtension = JSON.stringify({ ...envelope, x: [[[[1]]]] });
      expect(() => decodeRecord(DataRecordsV1, records(deepExtension, true), limits(4))).toThrow(/JSON_MAX_DEPTH/);
      const n = 500_000;
      expect(() => decodeRecord(DataRecordsV1, records(`${'['.repeat(n)}${']'.repeat(n)}`), limits(32))).toThrow(
        /JSON_MAX_DEPTH/,
      );
    });
  });

  it('given an event over the limit, when published, then the publisher refuses it and nothing is sent', async () => {
    const producer = new RecordingProducer();
    const publisher = new EventPublisher(producer.asProducer(), '/keel/test', 1_000);
    await expect(publisher.publish(Note, { text: 'x'.repeat(2_000) })).rejects.toBeInstanceOf(RecordTooLargeError);
    await publisher.publish(Note, { text: 'fits' });
    expect(producer.sent).toHaveLength(1);
  });

  it('given a dead letter that would exceed the limit, when sent, then its value goes to object storage and a pointer is dead-lettered', async () => {
    const producer = new RecordingProducer();
    const payloads = new MemoryPayloads();
    const sink = new KafkaDeadLetterSink(producer.asProducer(), {
      maxRecordBytes: 2_000,
      payloads: { store: payloads, bucket: 'keel-dead-letters' },
    });
    const value = JSON.stringify({ text: 'x'.repeat(1_990) });
    await sink.send(record(value), { error: new Error('too large'), consumer: 'c', attempts: 1 });
    const [letter] = producer.sent;
    expect(letter.topic).toBe('test.note.sent.v1.dlq');
    expect(payloads.stored).toEqual([
      { bucket: 'keel-dead-letters', prefix: 'dead-letters/test.note.sent.v1', body: Buffer.from(value) },
    ]);
    expect(JSON.parse(String(letter.message.value))).toEqual({
      payloadUri: 's3://keel-dead-letters/dead-letters/test.note.sent.v1/abc.bin',
      sha256: 'abc',
      bytes: value.length,
    });
    const headers = letter.message.headers!;
    expect(String(headers[DLQ_HEADERS.payloadUri])).toBe(
      's3://keel-dead-letters/dead-letters/test.note.sent.v1/abc.bin',
    );
    expect(String(headers[DLQ_HEADERS.reason])).toBe('too large');
    expect(String(headers.ce_id)).toBe('1');
    expect(recordBytes(letter.message as never)).toBeLessThanOrEqual(2_000);
  });

  it('given a dead letter whose headers alone exceed the limit, when sent, then only the dlq headers are kept', async () => {
    const producer = new RecordingProducer();
    const sink = new KafkaDeadLetterSink(producer.asProducer(), { maxRecordBytes: 5_000 });
    const headers = { ...record('{}').headers, junk: 'j'.repeat(6_000) };
    await sink.send(record('{}', { headers }), { error: new Error('bad'), consumer: 'c', attempts: 1 });
    const message = producer.sent[0].message;
    expect(message.headers!.junk).toBeUndefined();
    expect(String(message.headers![DLQ_HEADERS.headersDropped])).toBe('6');
    expect(JSON.parse(String(message.value))).toMatchObject({ payloadUri: null, bytes: 2 });
    expect(recordBytes(message as never)).toBeLessThanOrEqual(5_000);
  });

  it('given a dead letter under the limit, when sent, then it is written whole as before', async () => {
    const producer = new RecordingProducer();
    const sink = new KafkaDeadLetterSink(producer.asProducer(), { maxRecordBytes: 100_000 });
    await sink.send(record('{"text":1}'), { error: new Error('bad'), consumer: 'c', attempts: 1 });
    expect(String(producer.sent[0].message.value)).toBe('{"text":1}');
    expect(producer.sent[0].message.headers![DLQ_HEADERS.payloadUri]).toBeUndefined();
  });
});
