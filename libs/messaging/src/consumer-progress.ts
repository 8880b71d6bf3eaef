import { type Admin } from 'kafkajs';

export interface ConsumedBeforeQuery {
  groupId: string;
  topic: string;
  partition: number;
  /** Records of the partition stamped (Kafka timestamp) before this time must be committed by the group. */
  before: Date;
}

/**
 * Whether a consumer group has committed every record its partition received before a time: its committed offset is
 * at or past the partition's first record stamped at or after `before` (the partition's end when there is none).
 * A group that committed nothing there has consumed nothing, unless nothing came before `before` either.
 *
 * What "nothing arrived for a while" must ask: a consumer that has not staged anything for a while may simply be
 * behind (a backlog, a rebalance, a record being retried) while the records wait in Kafka.
 */
export async function groupConsumedBefore(admin: Admin, query: ConsumedBeforeQuery): Promise<boolean> {
  const { groupId, topic, partition, before } = query;
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, before.getTime());
  const boundary = byTime.find((entry) => entry.partition === partition)?.offset;
  if (boundary === undefined) throw new Error(`topic ${topic} has no partition ${partition}`);
  if (BigInt(boundary) <= 0n) return true;
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offset = committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1';
  return BigInt(offset) >= BigInt(boundary);
}
