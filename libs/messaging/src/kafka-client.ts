import { allTopics } from '@keel/contracts';
import { type Admin, Kafka, logLevel, Partitioners, type Producer, type SASLOptions } from 'kafkajs';
import { type MessagingLogger } from './logger';

/** SASL credentials of this client (the broker's ACLs decide what its user may do). */
export interface KafkaSasl {
  mechanism: 'scram-sha-512' | 'scram-sha-256' | 'plain';
  username: string;
  password: string;
}

/** A kafkajs client whose logs go to the app's structured logger; authenticated with SASL when `sasl` is given. */
export function createKafka(opts: {
  clientId: string;
  brokers: readonly string[];
  logger: MessagingLogger;
  sasl?: KafkaSasl;
}): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    ...(opts.sasl ? { sasl: opts.sasl as SASLOptions } : {}),
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 300, retries: 8 },
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...fields } = log;
        // kafkajs warns about this whenever an idempotent producer's retries are bounded; we bound them on purpose
        // (an unbounded send would hang a handler forever) and rely on idempotent consumers for the rest.
        if (message.startsWith('Limiting retries for the idempotent producer')) return;
        if (level <= logLevel.ERROR) opts.logger.error({ kafka: fields }, message);
        else opts.logger.warn({ kafka: fields }, message);
      },
  });
}

/** Idempotent producer: broker-side dedupe of retried sends, acks from all in-sync replicas. */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** How Keel's topics are created: partitions, replication factor and `min.insync.replicas`. */
export interface TopicSettings {
  topics?: readonly string[];
  partitions?: number;
  replicationFactor?: number;
  /** Written as the topic's `min.insync.replicas`; with acks from all replicas, a write survives that many losses. */
  minInsyncReplicas?: number;
}

/**
 * Creates every contract topic and its dead-letter topic if missing. Topics are explicit rather than auto-created so
 * partition counts and replication are ours and a typo in a topic name fails instead of silently creating a new
 * topic. Existing topics are left as they are (changing replication is an operator's reassignment, not a start-up
 * side effect). Two replicas creating the same topic at once is not an error.
 */
export async function ensureTopics(admin: Admin, opts: TopicSettings = {}): Promise<void> {
  const wanted = opts.topics ?? allTopics();
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((topic) => !existing.has(topic));
  if (missing.length === 0) return;
  const minInsync = opts.minInsyncReplicas;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({
      topic,
      numPartitions: opts.partitions ?? 3,
      replicationFactor: opts.replicationFactor ?? 1,
      ...(minInsync === undefined
        ? {}
        : { configEntries: [{ name: 'min.insync.replicas', value: String(minInsync) }] }),
    })),
  });
}
