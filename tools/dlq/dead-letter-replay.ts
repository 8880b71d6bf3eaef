import { DLQ_HEADERS } from '@keel/messaging';
import { type Admin, type IHeaders, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';

/** Dead-letter topics are `<topic>.dlq` (libs/contracts `deadLetterTopic`). */
const DLQ_SUFFIX = '.dlq';
const idleTimeoutMs = 30_000;

/** The group whose committed offsets remember what was replayed; a `--consumer` filter gets a group of its own. */
export function replayGroup(consumer?: string): string {
  return consumer ? `keel.dlq-replay.${consumer}` : 'keel.dlq-replay';
}

export interface ReplayOptions {
  kafka: Kafka;
  /** An original topic or its dead-letter topic; all dead-letter topics when absent. */
  topic?: string;
  /** Only dead letters written by this consumer group (`dlq_consumer`). */
  consumer?: string;
  /** List the dead letters that would be replayed, with their reasons; send nothing, remember nothing. */
  dryRun?: boolean;
  /** Overrides `replayGroup(consumer)`: tests use a group of their own. */
  groupId?: string;
}

/** One dead letter as found, and what happened to it. */
export interface ReplayedLetter {
  deadLetterTopic: string;
  partition: number;
  offset: string;
  originalTopic: string;
  eventId: string | undefined;
  consumer: string | undefined;
  errorCode: string | undefined;
  attempts: string | undefined;
  reason: string | undefined;
  /** Where the value of a record too large to dead-letter whole was stored (`dlq_payload_uri`), if it was. */
  payloadUri: string | undefined;
  action: 'replayed' | 'listed' | 'skipped (other consumer)' | 'kept (oversized)';
}

export interface ReplayReport {
  groupId: string;
  topics: string[];
  letters: ReplayedLetter[];
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined || value === null) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/** The record to send back: the original key, value and headers (CloudEvent id included), without the `dlq_*` ones. */
export function republishedHeaders(headers: IHeaders | undefined): IHeaders {
  const dlqHeaderNames = new Set<string>(Object.values(DLQ_HEADERS));
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([name]) => !dlqHeaderNames.has(name)));
}

async function deadLetterTopics(admin: Admin, topic?: string): Promise<string[]> {
  const existing = await admin.listTopics();
  if (topic) {
    const wanted = topic.endsWith(DLQ_SUFFIX) ? topic : `${topic}${DLQ_SUFFIX}`;
    if (!existing.includes(wanted)) throw new Error(`no dead-letter topic ${wanted}`);
    return [wanted];
  }
  return existing.filter((name) => name.endsWith(DLQ_SUFFIX)).sort();
}

/** Where each partition starts (the group's committed offset, else its earliest) and where it ends right now. */
async function ranges(admin: Admin, groupId: string, topics: string[]) {
  const committed = new Map<string, bigint>();
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
    for (const { partition, offset } of partitions) {
      if (offset !== '-1') committed.set(`${topic}/${partition}`, BigInt(offset));
    }
  }
  const result: { topic: string; partition: number; start: bigint; end: bigint }[] = [];
  for (const topic of topics) {
    for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
      const start = committed.get(`${topic}/${partition}`) ?? BigInt(low);
      result.push({ topic, partition, start: start < BigInt(low) ? BigInt(low) : start, end: BigInt(high) });
    }
  }
  return result;
}

/**
 * Sends every dead letter not yet replayed back to its original topic, with its original key, value and headers, so
 * its CloudEvent source and id are unchanged and a consumer that already applied it skips it. Letters of records too
 * large to dead-letter whole (their value in object storage behind a pointer) are reported, not sent. Reads each dead-letter
 * topic up to where it ends when the run starts, and commits the replay group's offset after each send is
 * acknowledged: running it again sends nothing twice, and a run that stops half-way resumes where it stopped.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayReport> {
  const groupId = options.groupId ?? replayGroup(options.consumer);
  const admin = options.kafka.admin();
  await admin.connect();
  let topics: string[];
  let todo: Awaited<ReturnType<typeof ranges>>;
  try {
    topics = await deadLetterTopics(admin, options.topic);
    todo = topics.length === 0 ? [] : (await ranges(admin, groupId, topics)).filter((range) => range.start < range.end);
  } finally {
    await admin.disconnect();
  }
  const report: ReplayReport = { groupId, topics, letters: [] };
  if (todo.length === 0) return report;

  const producer: Producer | undefined = options.dryRun
    ? undefined
    : options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer?.connect();
  // Dry runs read in a throwaway group (deleted after), so they never move what the replay group remembers.
  const readerGroup = options.dryRun ? `${groupId}.dry-run.${process.pid}.${Date.now()}` : groupId;
  const consumer = options.kafka.consumer({ groupId: readerGroup, allowAutoTopicCreation: false });
  const remaining = new Map(todo.map((range) => [`${range.topic}/${range.partition}`, range]));
  let finish!: () => void;
  let fail!: (error: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // Every offset below a partition's end exists, so a silence this long means something is wrong: say where.
  let lastProgress = Date.now();
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress < idleTimeoutMs) return;
    fail(
      new Error(`no dead letters read for ${idleTimeoutMs} ms; still waiting on ${[...remaining.keys()].join(', ')}`),
    );
  }, 1_000);
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    consumer.on(consumer.events.CRASH, (event) => fail(event.payload.error));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const key = `${topic}/${partition}`;
        const range = remaining.get(key);
        const offset = BigInt(message.offset);
        if (!range || offset < range.start || offset >= range.end) return;
        lastProgress = Date.now();
        report.letters.push(await handleLetter(topic, partition, message, options, producer));
        if (!options.dryRun) {
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        }
        if (BigInt(message.offset) + 1n >= range.end) {
          remaining.delete(key);
          if (remaining.size === 0) finish();
        }
      },
    });
    await finished;
  } finally {
    clearInterval(watchdog);
    await consumer.disconnect();
    await producer?.disconnect();
    if (options.dryRun) await deleteGroup(options.kafka, readerGroup);
  }
  return report;
}

async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteGroups([groupId]);
  } catch {
    // A group left behind expires with the broker's offsets retention; nothing depends on it.
  } finally {
    await admin.disconnect();
  }
}

async function handleLetter(
  deadLetterTopic: string,
  partition: number,
  message: KafkaMessage,
  options: ReplayOptions,
  producer: Producer | undefined,
): Promise<ReplayedLetter> {
  const headers = message.headers;
  const letter: Omit<ReplayedLetter, 'action'> = {
    deadLetterTopic,
    partition,
    offset: message.offset,
    originalTopic: header(headers, DLQ_HEADERS.originalTopic) ?? deadLetterTopic.slice(0, -DLQ_SUFFIX.length),
    eventId: header(headers, 'ce_id'),
    consumer: header(headers, DLQ_HEADERS.consumer),
    errorCode: header(headers, DLQ_HEADERS.errorCode),
    attempts: header(headers, DLQ_HEADERS.attempts),
    reason: header(headers, DLQ_HEADERS.reason),
    payloadUri: header(headers, DLQ_HEADERS.payloadUri),
  };
  if (options.consumer && letter.consumer !== options.consumer)
    return { ...letter, action: 'skipped (other consumer)' };
  // A letter whose value was moved to object storage held a record larger than the broker's limit (or than
  // KAFKA_MAX_RECORD_BYTES): its value here is only a pointer, and the record itself could not be published again
  // whole. It stays in the dead-letter topic, reported with where its payload is, for someone to split or drop.
  if (header(headers, DLQ_HEADERS.payloadSha256) !== undefined) return { ...letter, action: 'kept (oversized)' };
  if (!producer) return { ...letter, action: 'listed' };
  await producer.send({
    topic: letter.originalTopic,
    messages: [{ key: message.key, value: message.value, headers: republishedHeaders(headers) }],
  });
  return { ...letter, action: 'replayed' };
}
