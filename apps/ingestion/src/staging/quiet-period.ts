/** A pipeline's newest pending batch: when it was staged and which partition its records came from. */
export interface NewestPending {
  stagedAt: Date;
  topic: string;
  partition: number;
}

export interface QuietPeriodProbe {
  now(): number;
  /** The newest batch pending in staging, whichever replica staged it; null when nothing is pending. */
  newestPending(): Promise<NewestPending | null>;
  /** Whether the records consumer group has committed every record the partition received before `before`. */
  consumedBefore(topic: string, partition: number, before: Date): Promise<boolean>;
}

export interface QuietVerdict {
  quiet: boolean;
  /** The newest staging time known after the check (another replica may have staged later than this one). */
  newestAt: Date;
}

/**
 * Whether a pipeline's records went quiet for `flushAfterMs`, meaning none *arrived* for that long, not merely that
 * none was staged: while a replica is behind on the pipeline's partition (a backlog, a consumer-group rebalance as
 * replicas join or leave, a record being retried), its records wait in Kafka and a cut now would be early. So quiet
 * holds when the newest staged batch (on any replica) is `flushAfterMs` old and the records group has committed
 * every record its partition received until then. Records of a pipeline share a partition (the contract keys them
 * by pipeline id), so one partition answers for the pipeline.
 *
 * Cheap checks first: the database and Kafka are asked only once this process's own newest batch is old enough.
 */
export async function quietPeriodOver(
  flushAfterMs: number,
  knownNewestAt: Date,
  probe: QuietPeriodProbe,
): Promise<QuietVerdict> {
  if (probe.now() - knownNewestAt.getTime() < flushAfterMs) return { quiet: false, newestAt: knownNewestAt };
  const newest = await probe.newestPending();
  // Nothing pending any more (another replica cut it): a cut finds nothing and forgets the pipeline.
  if (!newest) return { quiet: true, newestAt: knownNewestAt };
  const newestAt = newest.stagedAt > knownNewestAt ? newest.stagedAt : knownNewestAt;
  const quietSince = new Date(newestAt.getTime() + flushAfterMs);
  if (probe.now() < quietSince.getTime()) return { quiet: false, newestAt };
  const quiet = await probe.consumedBefore(newest.topic, newest.partition, quietSince);
  return { quiet, newestAt };
}
