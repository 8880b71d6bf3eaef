import { defineEvent, encodeCloudEventHeaders } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type DeadLetterFailure, type DeadLetterSink, type InboundRecord } from './dead-letter';
import { NonRetryableError } from './errors';
import { InMemoryProcessedEventStore } from './processed-events';
import { freshRetryState, RecordProcessor } from './record-processor';

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

  it('given the dead-letter write fails beyond the budget, then processing rejects so the offset is not committed', async () => {
    const processor = new RecordProcessor(Greeting, async () => undefined, {
      consumer: 'greeter',
      store: new InMemoryProcessedEventStore(),
      deadLetters: {
        send: async () => {
          throw new Error('kafka down');
        },
      },
      logger: silent,
      retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
    });
    await expect(processor.process(record('e8', '{}'))).rejects.toThrow('kafka down');
  });
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A clock the test moves, so budgets are exact without waiting. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('RecordProcessor.attempt, one step at a time (as EventConsumer drives it)', () => {
  function stepping(handler: () => Promise<void>, overrides: Partial<{ store: InMemoryProcessedEventStore }> = {}) {
    const deadLetters = new RecordingDeadLetters();
    const clock = manualClock();
    const store = overrides.store ?? new InMemoryProcessedEventStore();
    const processor = new RecordProcessor(Greeting, handler, {
      consumer: 'greeter',
      store,
      deadLetters,
      logger: silent,
      retry: { initialDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000 },
      random: () => 0,
      now: clock.now,
    });
    return { deadLetters, clock, processor, store };
  }

  it('given a retryable failure that outlasts no budget, then it asks to come back with the backoff schedule', async () => {
    let calls = 0;
    const { processor } = stepping(async () => {
      calls += 1;
      if (calls < 4) throw Object.assign(new Error('down'), { name: 'MongoNetworkError' });
    });
    const state = freshRetryState();
    const waits: number[] = [];
    for (;;) {
      const result = await processor.attempt(record('r1', '{"name":"x"}'), state);
      if ('outcome' in result) {
        expect(result.outcome).toBe('handled');
        break;
      }
      expect(result.stage).toBe('handler');
      waits.push(result.retryInMs);
    }
    expect(waits).toEqual([50, 100, 200]);
  });

  it('given retryable failures past the time budget, then it dead-letters with the attempts and the reason', async () => {
    const { processor, deadLetters, clock } = stepping(async () => {
      throw Object.assign(new Error('registry unreachable'), { code: 14, details: 'x', metadata: {} });
    });
    const state = freshRetryState();
    let result = await processor.attempt(record('r2', '{"name":"x"}'), state);
    for (let i = 0; 'retryInMs' in result; i++) {
      clock.advance(result.retryInMs);
      result = await processor.attempt(record('r2', '{"name":"x"}'), state);
    }
    expect(result).toEqual({ outcome: 'dead-lettered' });
    const failure = deadLetters.sent[0].failure;
    expect(failure.attempts).toBe(state.failedAttempts);
    expect(failure.attempts).toBeGreaterThan(5);
    expect(failure.reason).toMatch(/^retries exhausted after \d+ attempts in \d+ s: registry unreachable$/);
  });

  it('given the store is down, then the record waits (never dead-lettered) and is handled once it is back', async () => {
    const store = new InMemoryProcessedEventStore();
    let storeDown = true;
    const flaky = Object.assign(Object.create(store) as InMemoryProcessedEventStore, {
      has: async (consumer: string, id: string) => {
        if (storeDown) throw Object.assign(new Error('no server'), { name: 'MongoServerSelectionError' });
        return store.has(consumer, id);
      },
    });
    const seen: string[] = [];
    const { processor, deadLetters, clock } = stepping(async () => void seen.push('x'), { store: flaky });
    const state = freshRetryState();
    for (let i = 0; i < 50; i++) {
      const result = await processor.attempt(record('r3', '{"name":"x"}'), state);
      expect(result).toMatchObject({ stage: 'infrastructure' });
      clock.advance(60_000);
    }
    storeDown = false;
    expect(await processor.attempt(record('r3', '{"name":"x"}'), state)).toEqual({ outcome: 'handled' });
    expect(deadLetters.sent).toEqual([]);
    expect(seen).toEqual(['x']);
  });

  it('given recording the processed id fails after the effect, then the retry records it without a second effect', async () => {
    const store = new InMemoryProcessedEventStore();
    let failRecord = true;
    const flaky = Object.assign(Object.create(store) as InMemoryProcessedEventStore, {
      has: (consumer: string, id: string) => store.has(consumer, id),
      record: async (consumer: string, id: string) => {
        if (failRecord) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        return store.record(consumer, id);
      },
    });
    const seen: string[] = [];
    const { processor } = stepping(async () => void seen.push('x'), { store: flaky });
    const state = freshRetryState();
    expect(await processor.attempt(record('r4', '{"name":"x"}'), state)).toMatchObject({ stage: 'infrastructure' });
    failRecord = false;
    expect(await processor.attempt(record('r4', '{"name":"x"}'), state)).toEqual({ outcome: 'handled' });
    expect(seen).toEqual(['x']);
    expect(await store.has('greeter', '/test r4')).toBe(true);
  });

  it('given the dead-letter topic is unreachable, then the dead letter is retried and written once', async () => {
    let brokerDown = true;
    const written: DeadLetterFailure[] = [];
    const processor = new RecordProcessor(Greeting, async () => undefined, {
      consumer: 'greeter',
      store: new InMemoryProcessedEventStore(),
      deadLetters: {
        send: async (_record, failure) => {
          if (brokerDown)
            throw Object.assign(new Error('broker gone'), { name: 'KafkaJSConnectionError', retriable: true });
          written.push(failure);
        },
      },
      logger: silent,
      retry: { initialDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000 },
      random: () => 0,
    });
    const state = freshRetryState();
    expect(await processor.attempt(record('r5', '{"name":""}'), state)).toMatchObject({ stage: 'infrastructure' });
    brokerDown = false;
    expect(await processor.attempt(record('r5', '{"name":""}'), state)).toEqual({ outcome: 'dead-lettered' });
    expect(written).toHaveLength(1);
    expect(written[0].attempts).toBe(1);
  });
});
