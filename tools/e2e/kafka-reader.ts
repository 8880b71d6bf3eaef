import { type Kafka } from 'kafkajs';
import { uniqueName } from '@keel/testing';

export interface ReadRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Reads a topic from the beginning with a throwaway group until `done` says it has what it needs (or times out).
 * Topics outlive test runs, so callers filter on their own pipeline ids.
 */
export async function readTopicUntil(
  kafka: Kafka,
  topic: string,
  done: (records: readonly ReadRecord[]) => boolean,
  timeoutMs = 60_000,
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('e2e-reader') });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        records.push({
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (!done(records) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    return records;
  } finally {
    await consumer.disconnect();
  }
}
