import { type z } from 'zod';

/**
 * One Kafka event type, declared once: its topic (which is also its CloudEvents `type`), the schema of its data,
 * how its record key is derived, and a golden fixture.
 *
 * Topic names follow `mlops.<entity>.<event>.v<N>`; a breaking change is a new topic with a new version.
 */
export interface EventContract<Schema extends z.ZodType = z.ZodType> {
  readonly topic: string;
  readonly description: string;
  readonly schema: Schema;
  /** Record key: the entity whose order matters, so its events land on one partition in order. */
  readonly key: (data: z.infer<Schema>) => string;
  /** Upper bound of a serialized event. Events carry references (URIs, hashes), never artifacts. */
  readonly maxBytes: number;
  /**
   * For a topic whose events carry payloads (records): a hand-written check that answers true only when `schema`
   * would accept `data` and return it unchanged (no key stripped, no default added), in a fraction of the schema's
   * time. False means "ask the schema", which then accepts or says why not; so it never changes what is accepted.
   * A property test holds it to the schema. It must not recurse: with `quickCheckedDepth` it sees data whose nesting
   * is not checked yet.
   */
  readonly quickCheck?: (data: unknown) => boolean;
  /**
   * How deep data that `quickCheck` accepts nests at most (arrays and objects inside each other, the data itself
   * counting 1). When set, a binary-mode record whose data passes the quick check is not scanned for JSON_MAX_DEPTH:
   * JSON.parse is iterative, and the quick check has just bounded the nesting of everything that reads the data.
   */
  readonly quickCheckedDepth?: number;
}

const TOPIC_PATTERN = /^mlops\.[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.v[1-9][0-9]*$/;

/** Declares an event contract, checking the topic naming rule at load time. */
export function defineEvent<Schema extends z.ZodType>(contract: EventContract<Schema>): EventContract<Schema> {
  if (!TOPIC_PATTERN.test(contract.topic) && !contract.topic.startsWith('test.')) {
    throw new Error(`Topic "${contract.topic}" does not follow mlops.<entity>.<event>.v<N>`);
  }
  return Object.freeze(contract);
}

/** Type of an event's data, from its contract. */
export type EventData<C extends EventContract> = z.infer<C['schema']>;

/** Dead-letter topic of a topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}
