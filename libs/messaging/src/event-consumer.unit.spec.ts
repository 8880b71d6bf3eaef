import { setTimeout as sleep } from 'node:timers/promises';
import { defineEvent, encodeCloudEventHeaders } from '@keel/contracts';
import { type Consumer, type EachBatchPayload, type EachMessagePayload, type Kafka } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type DeadLetterFailure, type DeadLetterSink, type InboundRecord } from './dead-letter';
import { type ConsumerFailedError, EventConsumer, type EventConsumerOptions } from './event-consumer';
import { type RecordLimits } from './limits';
import { silentLogger } from './logger';
import { InMemoryProcessedEventStore } from './processed-events';
import { decodeRecord } from './record-processor';

const Greeting = defineEvent({
  topic: 'test.greeting.sent.v1',
  description: 'test event',
  schema: z.object({ name: z.string().min(1) }),
  key: (data) => data.name,
  maxBytes: 1024,
});

type Listener = (event: { payload: Record<string, unknown> }) => void;

/**
 * How a fake kafkajs consumer's run() goes. kafkajs's run() does not reject when joining the group fails: it reports a
 * crash (stop, disconnect, crash events) and then returns; a crash of the fetch loop comes after run() returned.
 */
type StartUp = 'joins' | 'crashes in run' | 'crashes as run returns' | 'returns without joining';

/**
 * The slice of a kafkajs consumer EventConsumer uses, driven by the test: it joins its group, delivers records, and
 * crashes the way kafkajs does (stop, disconnect, then the crash event).
 */
class FakeConsumer {
  readonly events = {
    CRASH: 'consumer.crash',
    STOP: 'consumer.stop',
    DISCONNECT: 'consumer.disconnect',
    GROUP_JOIN: 'consumer.group_join',
  };
  readonly createdAt = Date.now();
  readonly commits: { topic: string; partition: number; offset: string }[] = [];
  readonly seeks: { topic: string; partition: number; offset: string }[] = [];
  readonly paused = new Set<string>();
  connected = false;
  running = false;
  private eachMessage?: (payload: EachMessagePayload) => Promise<void>;
  private eachBatch?: (payload: EachBatchPayload) => Promise<void>;
  readonly resolved: string[] = [];
  private readonly listeners = new Map<string, Listener[]>();

  constructor(private readonly kafka: FakeKafka) {}

  on(name: string, listener: Listener): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => undefined;
  }

  async connect(): Promise<void> {
    if (this.kafka.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:9092');
    this.connected = true;
  }

  async subscribe(): Promise<void> {}

  async run(config: {
    eachMessage?: (payload: EachMessagePayload) => Promise<void>;
    eachBatch?: (payload: EachBatchPayload) => Promise<void>;
  }): Promise<void> {
    this.eachMessage = config.eachMessage;
    this.eachBatch = config.eachBatch;
    this.running = true;
    const startUp = this.kafka.startUps.shift() ?? 'joins';
    const coordinatorLoading = new Error("The coordinator is loading and hence can't process requests");
    if (startUp === 'crashes in run') {
      await this.crash(coordinatorLoading);
      return;
    }
    if (startUp === 'returns without joining') return;
    this.emit(this.events.GROUP_JOIN, { groupId: 'greeter', memberAssignment: {} });
    if (startUp === 'crashes as run returns') queueMicrotask(() => void this.crash(coordinatorLoading));
  }

  async disconnect(): Promise<void> {
    if (this.running) {
      this.running = false;
      this.emit(this.events.STOP, {});
    }
    if (this.connected) {
      this.connected = false;
      this.emit(this.events.DISCONNECT, {});
    }
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    this.commits.push(...offsets);
  }

  seek(target: { topic: string; partition: number; offset: string }): void {
    this.seeks.push(target);
  }

  /** What kafkajs does when it gives up (e.g. the group evicted the member): stop, disconnect, crash. */
  async crash(error: Error): Promise<void> {
    await this.disconnect();
    this.emit(this.events.CRASH, { error, groupId: 'greeter', restart: false });
  }

  async deliver(partition: number, offset: string, name: string, id = `evt-${partition}-${offset}`): Promise<void> {
    if (!this.eachMessage || !this.running) throw new Error('not running');
    const headers = encodeCloudEventHeaders({ id, source: '/test', type: Greeting.topic, specversion: '1.0' });
    const key = `${Greeting.topic}/${partition}`;
    await this.eachMessage({
      topic: Greeting.topic,
      partition,
      message: {
        offset,
        key: null,
        value: Buffer.from(JSON.stringify({ name })),
        headers,
        timestamp: '0',
        attributes: 0,
      },
      heartbeat: async () => undefined,
      pause: () => {
        this.paused.add(key);
        return () => this.paused.delete(key);
      },
    });
  }

  /** One fetch of a partition for a consumer with batch handlers; `value` overrides a message's JSON. */
  async deliverBatch(
    partition: number,
    messages: { offset: string; name: string; id?: string; value?: string }[],
  ): Promise<void> {
    if (!this.eachBatch || !this.running) throw new Error('not running in batches');
    const key = `${Greeting.topic}/${partition}`;
    await this.eachBatch({
      batch: {
        topic: Greeting.topic,
        partition,
        messages: messages.map(({ offset, name, id = `evt-${partition}-${offset}`, value }) => ({
          offset,
          key: null,
          value: Buffer.from(value ?? JSON.stringify({ name })),
          headers: encodeCloudEventHeaders({ id, source: '/test', type: Greeting.topic, specversion: '1.0' }),
          timestamp: '0',
          attributes: 0,
        })),
      },
      resolveOffset: (offset: string) => void this.resolved.push(offset),
      heartbeat: async () => undefined,
      isRunning: () => this.running,
      isStale: () => false,
      pause: () => {
        this.paused.add(key);
        return () => this.paused.delete(key);
      },
    } as unknown as EachBatchPayload);
  }

  private emit(name: string, payload: Record<string, unknown>): void {
    for (const listener of this.listeners.get(name) ?? []) listener({ payload });
  }
}

class FakeKafka {
  readonly consumers: FakeConsumer[] = [];
  unreachable = false;
  /** How the next consumers' run() go, one entry each; then they join. */
  startUps: StartUp[] = [];
  consumer(): Consumer {
    const consumer = new FakeConsumer(this);
    this.consumers.push(consumer);
    return consumer as unknown as Consumer;
  }
  get latest(): FakeConsumer {
    return this.consumers[this.consumers.length - 1];
  }
  asKafka(): Kafka {
    return this as unknown as Kafka;
  }
}

class RecordingDeadLetters implements DeadLetterSink {
  readonly sent: { record: InboundRecord; failure: DeadLetterFailure }[] = [];
  async send(record: InboundRecord, failure: DeadLetterFailure): Promise<void> {
    this.sent.push({ record, failure });
  }
}

/** Polls until `condition` holds; fails after many turns rather than after a wall-clock time. */
async function until(what: string, condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 2_000; turn++) {
    if (condition()) return;
    await sleep(5);
  }
  throw new Error(`never: ${what}`);
}

function setup(handler: (name: string) => Promise<void>, options: Partial<EventConsumerOptions> = {}) {
  const kafka = new FakeKafka();
  const fatal: ConsumerFailedError[] = [];
  const deadLetters = new RecordingDeadLetters();
  const consumer = new EventConsumer(kafka.asKafka(), {
    groupId: 'greeter',
    store: new InMemoryProcessedEventStore(),
    deadLetters,
    logger: silentLogger,
    retry: { initialDelayMs: 1, maxDelayMs: 2, budgetMs: 60_000 },
    restartBackoff: { initialDelayMs: 1, maxDelayMs: 4 },
    restartTimeoutMs: 60_000,
    onFatal: (error) => fatal.push(error),
    random: () => 0,
    ...options,
  }).on(Greeting, async (event) => handler(event.data.name));
  return { kafka, consumer, fatal, deadLetters };
}

describe('EventConsumer supervision', () => {
  it('given kafkajs crashes with restart: false, then it is not running until a fresh kafkajs consumer is back', async () => {
    const handled: string[] = [];
    const { kafka, consumer, fatal } = setup(async (name) => void handled.push(name));
    await consumer.start();
    expect(consumer.status().state).toBe('running');
    const first = kafka.latest;

    await first.crash(new Error('The group is rebalancing, so a rejoin is needed [non-retriable]'));
    expect(consumer.status().state).toBe('restarting');
    expect(consumer.status().lastError).toMatch(/crashed: The group is rebalancing/);

    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(kafka.consumers).toHaveLength(2);
    expect(kafka.latest).not.toBe(first);
    expect(kafka.latest.running).toBe(true);
    expect(consumer.status()).toMatchObject({ state: 'running', restarts: 1 });
    await kafka.latest.deliver(0, '3', 'after-restart');
    expect(handled).toEqual(['after-restart']);
    expect(kafka.latest.commits).toEqual([{ topic: Greeting.topic, partition: 0, offset: '4' }]);
    expect(fatal).toEqual([]);
    await consumer.stop();
  });

  it('given a stop or disconnect nobody asked for, then it restarts as after a crash', async () => {
    const { kafka, consumer } = setup(async () => undefined);
    await consumer.start();
    await kafka.latest.disconnect();
    expect(consumer.status().state).toBe('restarting');
    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(kafka.consumers).toHaveLength(2);
    await consumer.stop();
  });

  it('given Kafka stays unreachable past the restart bound, then the consumer fails and onFatal is called once', async () => {
    const { kafka, consumer, fatal } = setup(async () => undefined, {
      restartTimeoutMs: 30,
      restartBackoff: { initialDelayMs: 2, maxDelayMs: 4 },
    });
    await consumer.start();
    kafka.unreachable = true;
    await kafka.latest.crash(new Error('Connection error: ECONNREFUSED'));

    await until('the consumer is declared failed', () => fatal.length > 0);
    expect(consumer.status().state).toBe('failed');
    expect(fatal).toHaveLength(1);
    expect(fatal[0].groupId).toBe('greeter');
    expect(fatal[0].message).toMatch(/consumer greeter failed: not back within 30 ms .* ECONNREFUSED/);
    expect(kafka.consumers.length).toBeGreaterThan(1);
    await sleep(20);
    expect(fatal).toHaveLength(1);
  });

  it('given Kafka comes back within the bound, then the consumer recovers without a fatal error', async () => {
    const { kafka, consumer, fatal } = setup(async () => undefined, {
      restartBackoff: { initialDelayMs: 2, maxDelayMs: 4 },
    });
    await consumer.start();
    kafka.unreachable = true;
    await kafka.latest.crash(new Error('Connection error'));
    await until('a few failed restart attempts', () => kafka.consumers.length >= 4);
    expect(consumer.status().state).toBe('restarting');
    expect(consumer.status().lastError).toMatch(/restart failed: connect ECONNREFUSED/);
    kafka.unreachable = false;
    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(fatal).toEqual([]);
    await consumer.stop();
  });

  it('given stop is requested, then its own stop and disconnect do not restart it', async () => {
    const { kafka, consumer } = setup(async () => undefined);
    await consumer.start();
    await consumer.stop();
    await sleep(20);
    expect(consumer.status().state).toBe('stopped');
    expect(kafka.consumers).toHaveLength(1);
    expect(kafka.latest.connected).toBe(false);
  });

  it('given Kafka is unreachable at the first start, then start rejects and the state says why', async () => {
    const { kafka, consumer } = setup(async () => undefined);
    kafka.unreachable = true;
    await expect(consumer.start()).rejects.toThrow('ECONNREFUSED');
    expect(consumer.status()).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe('EventConsumer start-up and readiness (ready = running: joined its group and up since)', () => {
  it('given kafkajs crashes while joining at start and run() still returns, then it is not ready and is relaunched until it joins', async () => {
    const handled: string[] = [];
    const { kafka, consumer, fatal } = setup(async (name) => void handled.push(name));
    kafka.startUps = ['crashes in run', 'crashes in run'];

    await consumer.start();
    expect(consumer.status()).toMatchObject({
      state: 'restarting',
      lastError: expect.stringMatching(/crashed: The coordinator is loading/),
    });
    expect(() => consumer.assertReady()).toThrow(/^restarting: kafkajs consumer crashed: The coordinator is loading/);

    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(() => consumer.assertReady()).not.toThrow();
    expect(kafka.consumers).toHaveLength(3);
    expect(kafka.consumers.slice(0, 2).map((fake) => fake.connected)).toEqual([false, false]);
    expect(kafka.latest.running).toBe(true);
    expect(consumer.status()).toMatchObject({ state: 'running', restarts: 1 });
    await kafka.latest.deliver(0, '0', 'after-join');
    expect(handled).toEqual(['after-join']);
    expect(fatal).toEqual([]);
    await consumer.stop();
  });

  it('given kafkajs crashes as run() returns (before start resumes), then it is relaunched rather than reported running', async () => {
    const { kafka, consumer } = setup(async () => undefined);
    kafka.startUps = ['crashes as run returns'];
    await consumer.start();
    expect(consumer.status().state).not.toBe('running');
    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(kafka.consumers).toHaveLength(2);
    expect(kafka.latest.running).toBe(true);
    await consumer.stop();
  });

  it('given run() returns without the consumer joining its group, then it is not ready and is relaunched', async () => {
    const { kafka, consumer } = setup(async () => undefined);
    kafka.startUps = ['returns without joining'];
    await consumer.start();
    expect(consumer.status()).toMatchObject({
      state: 'restarting',
      lastError: expect.stringMatching(/returned from run without joining its group/),
    });
    expect(kafka.consumers[0].connected).toBe(false);
    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(kafka.consumers).toHaveLength(2);
    await consumer.stop();
  });

  it('given the consumer a restart launched crashes while joining, then the restart goes on instead of reporting running', async () => {
    const { kafka, consumer, fatal } = setup(async () => undefined);
    await consumer.start();
    kafka.startUps = ['crashes in run'];
    await kafka.latest.crash(new Error('The group is rebalancing, so a rejoin is needed [non-retriable]'));

    await until('the restart launched a consumer that crashed', () => kafka.consumers.length >= 2);
    await until('the consumer runs again', () => consumer.status().state === 'running');
    expect(kafka.consumers).toHaveLength(3);
    expect(kafka.consumers[1].running).toBe(false);
    expect(kafka.latest.running).toBe(true);
    expect(consumer.status()).toMatchObject({ state: 'running', restarts: 1 });
    expect(fatal).toEqual([]);
    await consumer.stop();
  });

  it('given stop is requested while the start-up crash waits for its relaunch, then it stops without relaunching', async () => {
    const { kafka, consumer } = setup(async () => undefined, {
      restartBackoff: { initialDelayMs: 10_000, maxDelayMs: 10_000 },
    });
    kafka.startUps = ['crashes in run'];
    await consumer.start();
    expect(consumer.status().state).toBe('restarting');
    await consumer.stop();
    expect(consumer.status().state).toBe('stopped');
    expect(() => consumer.assertReady()).toThrow(/^stopped/);
    expect(kafka.consumers).toHaveLength(1);
  });
});

describe('EventConsumer restart backoff and the fatal bound', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('given every relaunch crashes while joining, then attempts follow the capped doubling backoff and onFatal is called once at the bound', async () => {
    vi.useFakeTimers();
    const { kafka, consumer, fatal } = setup(async () => undefined, {
      restartBackoff: { initialDelayMs: 100, maxDelayMs: 400 },
      restartTimeoutMs: 1_000,
      random: () => 0,
    });
    kafka.startUps = Array.from({ length: 20 }, () => 'crashes in run' as const);
    const startedAt = Date.now();

    await consumer.start();
    expect(consumer.status().state).toBe('restarting');
    await vi.advanceTimersByTimeAsync(5_000);

    // random 0: each wait is half its step (100, 200, 400, 400, ...): 50, 100, 200, 200, 200 ms
    expect(kafka.consumers.map((fake) => fake.createdAt - startedAt)).toEqual([0, 50, 150, 350, 550, 750, 950]);
    expect(consumer.status().state).toBe('failed');
    expect(() => consumer.assertReady()).toThrow(/^failed: not back within 1000 ms/);
    expect(fatal).toHaveLength(1);
    expect(fatal[0].message).toMatch(
      /consumer greeter failed: not back within 1000 ms after 6 restart attempts; last error: restart failed: kafkajs consumer crashed: The coordinator is loading/,
    );
  });
});

describe('EventConsumer retries without holding other partitions', () => {
  it('given a retryable failure, then the partition is paused and rewound, nothing is committed, and the redelivery is handled', async () => {
    let failures = 1;
    const handled: string[] = [];
    const { kafka, consumer, deadLetters } = setup(async (name) => {
      if (failures-- > 0) throw Object.assign(new Error('storage down'), { retryable: true });
      handled.push(name);
    });
    await consumer.start();
    const fake = kafka.latest;

    await fake.deliver(0, '5', 'waits');
    expect(fake.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '5' }]);
    expect(fake.paused.has(`${Greeting.topic}/0`)).toBe(true);
    expect(fake.commits).toEqual([]);

    await fake.deliver(1, '9', 'flows');
    expect(fake.commits).toEqual([{ topic: Greeting.topic, partition: 1, offset: '10' }]);

    await until('the partition is resumed', () => !fake.paused.has(`${Greeting.topic}/0`));
    await fake.deliver(0, '5', 'waits');
    expect(handled).toEqual(['flows', 'waits']);
    expect(fake.commits).toContainEqual({ topic: Greeting.topic, partition: 0, offset: '6' });
    expect(deadLetters.sent).toEqual([]);
    await consumer.stop();
  });

  it('given a non-retryable failure, then it is dead-lettered and committed at once', async () => {
    const { kafka, consumer, deadLetters } = setup(async () => {
      throw Object.assign(new Error('unknown pipeline'), { retryable: false, code: 'unknown-pipeline' });
    });
    await consumer.start();
    await kafka.latest.deliver(2, '0', 'poison');
    expect(deadLetters.sent).toHaveLength(1);
    expect(deadLetters.sent[0].failure.attempts).toBe(1);
    expect(kafka.latest.commits).toEqual([{ topic: Greeting.topic, partition: 2, offset: '1' }]);
    expect(kafka.latest.seeks).toEqual([]);
    await consumer.stop();
  });
});

describe('EventConsumer batches', () => {
  function setupBatches(handler: (names: string[]) => Promise<void>) {
    const kafka = new FakeKafka();
    const deadLetters = new RecordingDeadLetters();
    const store = new InMemoryProcessedEventStore();
    const calls: string[][] = [];
    const consumer = new EventConsumer(kafka.asKafka(), {
      groupId: 'greeter',
      store,
      deadLetters,
      logger: silentLogger,
      retry: { initialDelayMs: 1, maxDelayMs: 2, budgetMs: 60_000 },
      random: () => 0,
    }).onBatch(Greeting, async (events) => {
      const names = events.map((event) => event.data.name);
      calls.push(names);
      await handler(names);
    });
    return { kafka, consumer, deadLetters, store, calls };
  }

  it('given a fetch of events, then they are handled together without the processed or repeated ones, and committed once', async () => {
    const { kafka, consumer, store, calls } = setupBatches(async () => undefined);
    await store.record('greeter', '/test evt-0-1');
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'seen before' },
      { offset: '2', name: 'b' },
      { offset: '3', name: 'a again', id: 'evt-0-0' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([['a', 'b']]);
    expect(kafka.latest.commits).toEqual([{ topic: Greeting.topic, partition: 0, offset: '4' }]);
    expect(kafka.latest.resolved).toEqual(['3']);
    expect(await store.hasMany('greeter', ['/test evt-0-0', '/test evt-0-2'])).toEqual(
      new Set(['/test evt-0-0', '/test evt-0-2']),
    );
    await consumer.stop();
  });

  it('given a record that does not decode, then it alone is dead-lettered and the runs around it are batches', async () => {
    const { kafka, consumer, deadLetters, calls } = setupBatches(async () => undefined);
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
      { offset: '2', name: '', value: '{"name": ' },
      { offset: '3', name: 'c' },
      { offset: '4', name: 'd' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(deadLetters.sent.map((letter) => letter.record.offset)).toEqual(['2']);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['2', '3', '5']);
    await consumer.stop();
  });

  it('given a batch whose handler fails, then its events are handled one by one: the good ones pass, the bad one is dead-lettered', async () => {
    const { kafka, consumer, deadLetters, calls } = setupBatches(async (names) => {
      if (names.includes('poison')) {
        throw Object.assign(new Error('unknown pipeline'), { retryable: false, code: 'unknown-pipeline' });
      }
    });
    await consumer.start();
    await kafka.latest.deliverBatch(1, [
      { offset: '7', name: 'a' },
      { offset: '8', name: 'poison' },
      { offset: '9', name: 'b' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
    expect(deadLetters.sent.map((letter) => letter.record.offset)).toEqual(['8']);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['8', '9', '10']);
    await consumer.stop();
  });

  it('given a retryable failure of a lone event, then the partition is paused and rewound to it, and the rest waits', async () => {
    let failures = 2;
    const { kafka, consumer, calls } = setupBatches(async () => {
      if (failures-- > 0) throw Object.assign(new Error('storage down'), { retryable: true });
    });
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await consumer.whenSettled();
    // the batch failed, then its first event alone: rewound to it, nothing committed, b not tried
    expect(calls).toEqual([['a', 'b'], ['a']]);
    expect(kafka.latest.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '0' }]);
    expect(kafka.latest.commits).toEqual([]);
    await until('the partition is resumed', () => !kafka.latest.paused.has(`${Greeting.topic}/0`));
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await consumer.whenSettled();
    // the waiting record goes alone, the rest as a batch of one
    expect(calls.slice(2)).toEqual([['a'], ['b']]);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['1', '2']);
    await consumer.stop();
  });

  it('given the next fetch arrives while a batch settles, then it is decoded meanwhile and handled only after that batch committed', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const { kafka, consumer, calls } = setupBatches(async (names) => {
      if (names.includes('a')) await blocked;
    });
    await consumer.start();
    // the first fetch returns while its batch settles, so kafkajs can fetch the next one
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    expect(kafka.latest.resolved).toEqual(['1']);
    expect(kafka.latest.commits).toEqual([]);
    const second = kafka.latest.deliverBatch(0, [
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    await sleep(20);
    expect(calls).toEqual([['a', 'b']]);
    // once the first batch commits, the second is handled, and the commits stay in order
    release();
    await second;
    await consumer.whenSettled();
    expect(calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['2', '4']);
    await consumer.stop();
  });

  it('given a batch settling in the background ends in a retry, then the partition is rewound to it and the fetch that came meanwhile is left alone', async () => {
    let failures = 2;
    const { kafka, consumer, calls } = setupBatches(async () => {
      if (failures-- > 0) throw Object.assign(new Error('storage down'), { retryable: true });
    });
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await kafka.latest.deliverBatch(0, [
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    // the first batch failed, then its first event alone: rewound to it; c and d were not handled nor committed
    expect(calls).toEqual([['a', 'b'], ['a']]);
    expect(kafka.latest.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '0' }]);
    expect(kafka.latest.commits).toEqual([]);
    await consumer.stop();
  });

  it('given a commit fails while a batch settles in the background, then the partition is rewound to the batch and paused, and the redelivery is recognised', async () => {
    const { kafka, consumer, calls, store } = setupBatches(async () => undefined);
    await consumer.start();
    const fake = kafka.latest;
    const commit = fake.commitOffsets.bind(fake);
    let failCommits = 1;
    fake.commitOffsets = async (offsets) => {
      if (failCommits-- > 0) throw new Error('The coordinator is not available');
      await commit(offsets);
    };
    await fake.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await consumer.whenSettled();
    expect(fake.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '0' }]);
    expect(fake.paused.has(`${Greeting.topic}/0`)).toBe(true);
    expect(fake.commits).toEqual([]);
    expect(await store.hasMany('greeter', ['/test evt-0-0', '/test evt-0-1'])).toEqual(
      new Set(['/test evt-0-0', '/test evt-0-1']),
    );
    // the redelivery: already processed, so only committed
    await fake.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([['a', 'b']]);
    expect(fake.commits.map((entry) => entry.offset)).toEqual(['2']);
    await consumer.stop();
  });

  it('given stop while a batch settles in the background, then stop waits for its commit', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const { kafka, consumer } = setupBatches(async () => blocked);
    await consumer.start();
    const fake = kafka.latest;
    await fake.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    const stopped = consumer.stop();
    await sleep(20);
    expect(fake.commits).toEqual([]);
    expect(fake.connected).toBe(true);
    release();
    await stopped;
    expect(fake.commits.map((entry) => entry.offset)).toEqual(['2']);
    expect(fake.connected).toBe(false);
  });
});

describe('EventConsumer prepared batches (decoded by the caller, e.g. on a worker thread)', () => {
  /**
   * A consumer whose preparer decodes as decodeRecord does and takes every record except those named `skip`; `gate`
   * holds a preparing until released, `fail` makes it throw.
   */
  function setupPrepared(handler: (names: string[]) => Promise<void> = async () => undefined) {
    const kafka = new FakeKafka();
    const deadLetters = new RecordingDeadLetters();
    const store = new InMemoryProcessedEventStore();
    const calls: string[][] = [];
    const one: string[] = [];
    const prepared: { offsets: string[]; limits: RecordLimits }[] = [];
    const control = { gate: undefined as Promise<void> | undefined, fail: false };
    const consumer = new EventConsumer(kafka.asKafka(), {
      groupId: 'greeter',
      store,
      deadLetters,
      logger: silentLogger,
      retry: { initialDelayMs: 1, maxDelayMs: 2, budgetMs: 60_000 },
      random: () => 0,
      limits: { maxRecordBytes: 400, maxDepth: 8 },
    }).onPreparedBatch(Greeting, {
      prepare: async (records, limits) => {
        prepared.push({ offsets: records.map((record) => record.offset), limits });
        await control.gate;
        if (control.fail) throw new Error('worker thread gone');
        return records.map((record) => {
          try {
            const event = decodeRecord(Greeting, record, limits);
            if (event.data.name === 'skip') return undefined;
            return { attributes: event.attributes, prepared: { upper: event.data.name.toUpperCase() } };
          } catch {
            return undefined;
          }
        });
      },
      handle: async (events) => {
        const names = events.map((event) => event.prepared.upper);
        calls.push(names);
        await handler(names);
      },
      handleOne: async (event) => {
        one.push(event.data.name);
        await handler([event.data.name]);
      },
    });
    return { kafka, consumer, deadLetters, store, calls, one, prepared, control };
  }

  it('given a fetch, then its prepared events are handled together without processed or repeated ones, and committed once', async () => {
    const { kafka, consumer, store, calls, one, prepared } = setupPrepared();
    await store.record('greeter', '/test evt-0-1');
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'seen before' },
      { offset: '2', name: 'b' },
      { offset: '3', name: 'a again', id: 'evt-0-0' },
    ]);
    await consumer.whenSettled();
    expect(prepared).toEqual([{ offsets: ['0', '1', '2', '3'], limits: { maxRecordBytes: 400, maxDepth: 8 } }]);
    expect(calls).toEqual([['A', 'B']]);
    expect(one).toEqual([]);
    expect(kafka.latest.commits).toEqual([{ topic: Greeting.topic, partition: 0, offset: '4' }]);
    await consumer.stop();
  });

  it('given records the preparer does not take or that are too large, then they go one by one: dead-lettered with the reason, or handled alone', async () => {
    const { kafka, consumer, deadLetters, calls, one, prepared } = setupPrepared();
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: '', value: '{"name": ' },
      { offset: '2', name: 'skip' },
      { offset: '3', name: 'b' },
      { offset: '4', name: 'x'.repeat(500) },
      { offset: '5', name: 'c' },
    ]);
    await consumer.whenSettled();
    // one preparing for the fetch; the record over KAFKA_MAX_RECORD_BYTES never reached it
    expect(prepared.map((call) => call.offsets)).toEqual([['0', '1', '2', '3', '5']]);
    expect(calls).toEqual([['A'], ['B'], ['C']]);
    expect(one).toEqual(['skip']);
    expect(deadLetters.sent.map((letter) => [letter.record.offset, (letter.failure.error as Error).name])).toEqual([
      ['1', 'MalformedEventError'],
      ['4', 'RecordTooLargeError'],
    ]);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['1', '2', '3', '4', '5', '6']);
    await consumer.stop();
  });

  it('given the preparer fails, then the fetch is handled one by one the usual way', async () => {
    const { kafka, consumer, calls, one, control } = setupPrepared();
    control.fail = true;
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([]);
    expect(one).toEqual(['a', 'b']);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['1', '2']);
    await consumer.stop();
  });

  it('given a batch whose handler fails, then its events are handled one by one: the bad one is dead-lettered', async () => {
    const { kafka, consumer, deadLetters, calls, one } = setupPrepared(async (names) => {
      if (names.some((name) => name.toLowerCase() === 'poison')) {
        throw Object.assign(new Error('unknown pipeline'), { retryable: false, code: 'unknown-pipeline' });
      }
    });
    await consumer.start();
    await kafka.latest.deliverBatch(1, [
      { offset: '7', name: 'a' },
      { offset: '8', name: 'poison' },
      { offset: '9', name: 'b' },
    ]);
    await consumer.whenSettled();
    expect(calls).toEqual([['A', 'POISON', 'B']]);
    expect(one).toEqual(['a', 'poison', 'b']);
    expect(deadLetters.sent.map((letter) => letter.record.offset)).toEqual(['8']);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['8', '9', '10']);
    await consumer.stop();
  });

  it('given fetches in a row, then kafkajs may fetch the next while one is prepared, and each is handled and committed in order', async () => {
    let release!: () => void;
    const { kafka, consumer, calls, prepared, control } = setupPrepared();
    control.gate = new Promise<void>((resolve) => (release = resolve));
    await consumer.start();
    // the first fetch returns at once: it is prepared and settled in the background
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    expect(kafka.latest.resolved).toEqual(['1']);
    // the second waits for the first to settle before kafkajs may fetch a third, and is being prepared meanwhile
    const second = kafka.latest.deliverBatch(0, [
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    await sleep(20);
    expect(prepared.map((call) => call.offsets)).toEqual([
      ['0', '1'],
      ['2', '3'],
    ]);
    expect(calls).toEqual([]);
    expect(kafka.latest.commits).toEqual([]);
    release();
    await second;
    await consumer.whenSettled();
    expect(calls).toEqual([
      ['A', 'B'],
      ['C', 'D'],
    ]);
    expect(kafka.latest.commits.map((commit) => commit.offset)).toEqual(['2', '4']);
    await consumer.stop();
  });

  it('given a fetch settling in the background ends in a retry, then the partition is rewound to it and the next fetch is left alone', async () => {
    let failures = 2;
    const { kafka, consumer, calls, one } = setupPrepared(async () => {
      if (failures-- > 0) throw Object.assign(new Error('storage down'), { retryable: true });
    });
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    await kafka.latest.deliverBatch(0, [
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    await consumer.whenSettled();
    // the first batch failed, then its first event alone: rewound to it; c and d were neither handled nor committed
    expect(calls).toEqual([['A', 'B']]);
    expect(one).toEqual(['a']);
    expect(kafka.latest.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '0' }]);
    expect(kafka.latest.commits).toEqual([]);
    await consumer.stop();
  });

  it('given a fetch rewound while the next one was fetched, then the redelivery from the rewound offset is handled and committed', async () => {
    let failures = 2;
    const { kafka, consumer, calls, one } = setupPrepared(async () => {
      if (failures-- > 0) throw Object.assign(new Error('storage down'), { retryable: true });
    });
    await consumer.start();
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
    ]);
    // Fetched before the first one failed: left alone (it is fetched again after the rewind).
    await kafka.latest.deliverBatch(0, [
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    // No whenSettled in between: kafkajs redelivers from the rewound offset while the stale fetch's entry is kept.
    await kafka.latest.deliverBatch(0, [
      { offset: '0', name: 'a' },
      { offset: '1', name: 'b' },
      { offset: '2', name: 'c' },
      { offset: '3', name: 'd' },
    ]);
    await consumer.whenSettled();
    // the redelivery's first record waits for its retry, so it goes alone; the rest is a batch; all committed
    expect(calls).toEqual([
      ['A', 'B'],
      ['B', 'C', 'D'],
    ]);
    expect(one).toEqual(['a', 'a']);
    expect(kafka.latest.seeks).toEqual([{ topic: Greeting.topic, partition: 0, offset: '0' }]);
    expect(kafka.latest.commits).toEqual([
      { topic: Greeting.topic, partition: 0, offset: '1' },
      { topic: Greeting.topic, partition: 0, offset: '4' },
    ]);
    await consumer.stop();
  });
});
