import { deadLetterTopic, type EventContract, type EventData } from '@keel/contracts';
import { createKafka, ensureTopics, silentLogger } from '@keel/messaging';
import { type Admin, type Consumer, type Kafka } from 'kafkajs';
import { stackEndpoints, uniqueName } from './local-stack';
import { asContractEvent, type RecordedEvent, recordedEvent } from './recorded-event';

/** A Kafka client on the local stack whose own logs stay quiet. */
export function stackKafka(clientId: string): Kafka {
  return createKafka({ clientId, brokers: stackEndpoints.kafkaBrokers, logger: silentLogger });
}

/**
 * Commits a consumer group's offsets at the current end of each topic, before any member joins: the group then
 * starts with what is published from now on, whenever its members get their partitions. (A new group told to start
 * at the latest offset instead races its own join against the test's first publish.)
 */
export async function startGroupAtTopicEnd(admin: Admin, groupId: string, topics: readonly string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
    });
  }
}

/** How long a wait may take and what it is waiting for, for the failure message. */
export interface WaitOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  what?: string;
}

export interface TopicRecorderOptions {
  /** Topics to record, for instance a contract's topic and its dead-letter topic (`deadLetterTopic(topic)`). */
  topics: readonly string[];
  /**
   * Which records to keep; the rest are dropped as they arrive. Topics outlive test runs and services on the stack
   * publish to them too, so a test keeps its own (its pipeline id, its event ids).
   */
  keep?: (event: RecordedEvent) => boolean;
  /** An existing client; by default a quiet one on the local stack. */
  kafka?: Kafka;
  /** Names the client and the recorder's consumer group in broker logs. */
  clientId?: string;
}

/**
 * Records what is published to some topics from the moment it starts: its consumer group is committed at the
 * topics' current ends before it joins, so nothing a test publishes after `start` resolves is missed and nothing
 * from earlier runs is replayed. Events are decoded CloudEvents; `waitFor*` resolve as soon as a match arrives.
 */
export class TopicRecorder {
  private readonly recorded: RecordedEvent[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly topics: readonly string[],
    private readonly consumer: Consumer,
  ) {}

  /** Creates the topics if missing, positions a fresh group at their ends and starts consuming. */
  static async start(options: TopicRecorderOptions): Promise<TopicRecorder> {
    const clientId = options.clientId ?? 'topic-recorder';
    const kafka = options.kafka ?? stackKafka(clientId);
    const groupId = uniqueName(`${clientId}-group`);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, { topics: options.topics });
      await startGroupAtTopicEnd(admin, groupId, options.topics);
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
    const recorder = new TopicRecorder(options.topics, consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const event = recordedEvent({ topic, partition, ...message });
        if (options.keep && !options.keep(event)) return;
        recorder.recorded.push(event);
        for (const listener of recorder.listeners) listener();
      },
    });
    return recorder;
  }

  /** Everything kept so far, in arrival order. */
  get events(): readonly RecordedEvent[] {
    return this.recorded;
  }

  /** Records kept from one topic. */
  on(topic: string): RecordedEvent[] {
    return this.recorded.filter((event) => event.topic === topic);
  }

  /** Events on a contract's topic, typed and checked against its schema. */
  eventsOf<C extends EventContract>(contract: C): RecordedEvent<EventData<C>>[] {
    return this.on(contract.topic).map((event) => asContractEvent(contract, event));
  }

  /** Dead letters of a contract's topic (their data is whatever was rejected, so it stays untyped). */
  deadLettersOf(contract: EventContract): RecordedEvent[] {
    return this.on(deadLetterTopic(contract.topic));
  }

  /** The first record matching `predicate`, already recorded or still to come. */
  async waitFor(predicate: (event: RecordedEvent) => boolean, options: WaitOptions = {}): Promise<RecordedEvent> {
    const [first] = await this.waitForAll(predicate, 1, options);
    return first;
  }

  /** All matching records once there are at least `count` of them, in arrival order. */
  waitForAll(
    predicate: (event: RecordedEvent) => boolean,
    count: number,
    { timeoutMs = 30_000, what }: WaitOptions = {},
  ): Promise<RecordedEvent[]> {
    return new Promise((resolve, reject) => {
      let lastError: unknown;
      let matching = 0;
      const check = () => {
        try {
          const found = this.recorded.filter(predicate);
          matching = found.length;
          if (found.length < count) return;
          done();
          resolve(found);
        } catch (error) {
          lastError = error;
        }
      };
      const timer = setTimeout(() => {
        done();
        const wanted = what ?? `${count} matching record(s)`;
        const seen = `${matching} matching of ${this.recorded.length} recorded on ${this.topics.join(', ')}`;
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${wanted} (${seen})${lastError ? `: ${String(lastError)}` : ''}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** The first event on a contract's topic matching `predicate`, typed by the contract. */
  async waitForEvent<C extends EventContract>(
    contract: C,
    predicate: (event: RecordedEvent<EventData<C>>) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<RecordedEvent<EventData<C>>> {
    const found = await this.waitFor(
      (event) => event.topic === contract.topic && predicate(asContractEvent(contract, event)),
      { what: `an event on ${contract.topic}`, ...options },
    );
    return asContractEvent(contract, found);
  }

  /** The first dead letter of a contract's topic matching `predicate`. */
  waitForDeadLetter(
    contract: EventContract,
    predicate: (event: RecordedEvent) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<RecordedEvent> {
    const topic = deadLetterTopic(contract.topic);
    return this.waitFor((event) => event.topic === topic && predicate(event), {
      what: `a dead letter on ${topic}`,
      ...options,
    });
  }

  /** Leaves the group; waits that are still pending time out. */
  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
