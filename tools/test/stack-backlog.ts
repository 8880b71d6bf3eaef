import { stackKafka } from '@keel/testing';
import { services } from '../services/services';

/** A group of one process (serving's alias followers, `models-<host>-<pid>-<random>`): no later process joins it. */
const PER_PROCESS_GROUP = /-\d+-[0-9a-f]{6}$/;

/** Unconsumed events per shared consumer group of the seven services (groups with none left out). */
export async function serviceGroupBacklogs(): Promise<Map<string, number>> {
  const admin = stackKafka('keel-backlog').admin();
  await admin.connect();
  try {
    const prefixes = services.map((service) => `${service.name}.`);
    const { groups } = await admin.listGroups();
    const backlogs = new Map<string, number>();
    const ends = new Map<string, Map<number, bigint>>();
    const shared = groups.filter(
      ({ groupId }) => prefixes.some((prefix) => groupId.startsWith(prefix)) && !PER_PROCESS_GROUP.test(groupId),
    );
    for (const { groupId } of shared) {
      let backlog = 0n;
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId })) {
        if (!ends.has(topic)) {
          const offsets = await admin.fetchTopicOffsets(topic);
          ends.set(topic, new Map(offsets.map((entry) => [entry.partition, BigInt(entry.high)])));
        }
        for (const { partition, offset } of partitions) {
          const committed = BigInt(offset);
          if (committed < 0n) continue;
          const end = ends.get(topic)!.get(partition) ?? committed;
          if (end > committed) backlog += end - committed;
        }
      }
      if (backlog > 0n) backlogs.set(groupId, Number(backlog));
    }
    return backlogs;
  } finally {
    await admin.disconnect();
  }
}
