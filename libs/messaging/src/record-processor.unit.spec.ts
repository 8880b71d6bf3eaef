import { defineEvent, encodeCloudEventHeaders } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type DeadLetterFailure, type DeadLetterSink, type InboundRecord } from './dead-letter';
import { NonRetryableError } from './errors';
import { InMemoryProcessedEventStore } from './processed-events';
import { RecordProcessor } from './record-processor';

const Greeting = defineEvent({
  topic: 'test.greeting.sent.v1',
  description: 'test event',
  schema: z.object({ name: z.string().min(1) }),
  key: (data) => data.name,
  maxBytes: 1024,
});

class RecordingDeadLetters implements DeadLetterSink {
  readonly sent: { record: InboundRecord; failure: DeadLetterFailure }[] = [];
  async send(record: InboundRecord, failure: DeadLetterFailure): Promise<void> {
    this.sent.push({ record, failure });
  }
}

function record(id: string, value: string, type = Greeting.topic, source = '/test'): InboundRecord {
  return {
    topic: Greeting.topic,
    partition: 0,
    offset: '7',
    key: null,
    value: Buffer.from(value),
    headers: encodeCloudEventHeaders({ id, source, type, specversion: '1.0' }),
  };
}

function setup(handler: (name: string) => Promise<void>) {
  const deadLetters = new RecordingDeadLetters();
  const store = new InMemoryProcessedEventStore();
  const processor = new RecordProcessor(Greeting, async (event) => handler(event.data.name), {
    consumer: 'greeter',
    store,
    deadLetters,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
  });
  return { deadLetters, processor };
}

describe('RecordProcessor', () => {
  it('given two sources that both send event id 1, when processed, then both are handled', async () => {
    const seen: string[] = [];
    const { processor } = setup(async (name) => void seen.push(name));
    const value = JSON.stringify({ name: 'Ada' });
    expect(await processor.process(record('1', value, Greeting.topic, '/crm/exporter'))).toBe('handled');
    expect(await processor.process(record('1', value, Greeting.topic, '/billing/exporter'))).toBe('handled');
    expect(await processor.process(record('1', value, Greeting.topic, '/crm/exporter'))).toBe('duplicate');
    expect(seen).toEqual(['Ada', 'Ada']);
  });

  it('given the same event id twice, when processed, then the handler runs once', async () => {
    const seen: string[] = [];
    const { processor } = setup(async (name) => void seen.push(name));
    expect(await processor.process(record('e1', '{"name":"ada"}'))).toBe('handled');
    expect(await processor.process(record('e1', '{"name":"ada"}'))).toBe('duplicate');
    expect(seen).toEqual(['ada']);
  });

  it('given data that breaks the schema, then it is dead-lettered with the failing field and never handled', async () => {
    const seen: string[] = [];
    const { processor, deadLetters } = setup(async (name) => void seen.push(name));
    expect(await processor.process(record('e2', '{"name":""}'))).toBe('dead-lettered');
    expect(seen).toEqual([]);
    expect(deadLetters.sent[0].failure.attempts).toBe(1);
    expect(String(deadLetters.sent[0].failure.error)).toMatch(/name/);
  });

  it('given a record that is not a CloudEvent, then it is dead-lettered with the reason', async () => {
    const { processor, deadLetters } = setup(async () => undefined);
    const broken = { ...record('e3', 'not json'), headers: {} };
    expect(await processor.process(broken)).toBe('dead-lettered');
    expect(String(deadLetters.sent[0].failure.error)).toMatch(/ce_|specversion|"id"/);
  });

  it('given an event of another type on the topic, then it is dead-lettered', async () => {
    const { processor, deadLetters } = setup(async () => undefined);
    expect(await processor.process(record('e4', '{"name":"x"}', 'mlops.other.thing.v1'))).toBe('dead-lettered');
    expect(String(deadLetters.sent[0].failure.error)).toMatch(/does not belong/);
  });

  it('given a transient failure, then it retries and succeeds', async () => {
    let calls = 0;
    const { processor, deadLetters } = setup(async () => {
      calls += 1;
      if (calls < 3) throw new Error('mongo blinked');
    });
    expect(await processor.process(record('e5', '{"name":"x"}'))).toBe('handled');
    expect(calls).toBe(3);
    expect(deadLetters.sent).toEqual([]);
  });

  it('given failures beyond the retry budget, then it dead-letters with the attempt count', async () => {
    const { processor, deadLetters } = setup(async () => {
      throw new Error('still down');
    });
    expect(await processor.process(record('e6', '{"name":"x"}'))).toBe('dead-lettered');
    expect(deadLetters.sent[0].failure.attempts).toBe(3);
  });

  it('given a non-retryable failure, then it dead-letters at once', async () => {
    let calls = 0;
    const { processor, deadLetters } = setup(async () => {
      calls += 1;
      throw new NonRetryableError('unknown pipeline');
    });
    expect(await processor.process(record('e7', '{"name":"x"}'))).toBe('dead-lettered');
    expect(calls).toBe(1);
    expect(deadLetters.sent[0].failure.attempts).toBe(1);
  });

  it('given the dead-letter write fails, then processing rejects so the offset is not committed', async () => {
    const processor = new RecordProcessor(Greeting, async () => undefined, {
      consumer: 'greeter',
      store: new InMemoryProcessedEventStore(),
      deadLetters: {
        send: async () => {
          throw new Error('kafka down');
        },
      },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    await expect(processor.process(record('e8', '{}'))).rejects.toThrow('kafka down');
  });
});
