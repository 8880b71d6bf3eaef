import { createHash } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { BUCKETS, formatObjectUri } from '@keel/storage';
import { type Collection } from 'mongodb';
import { type ArchivedFile } from '../archive/prediction-archive';

/**
 * One checkpoint of one partition of the prediction log, for one consumer group: the partition's state (in object
 * storage, `stateUri`) as it stood after the records before `nextOffset`, and the archive files of the rows applied
 * since the previous checkpoint. `_id` is `<group>|<partition>|<seq>`: inserting checkpoint seq + 1 is the claim of
 * the step from seq (the store's one atomic primitive, docs/design/repositories.md), so of two replicas that both
 * believe they own the partition (one not yet told of a rebalance) exactly one writes each step, and the other learns
 * it lost and reloads. A checkpoint is one document insert, whatever the rows and windows it covers.
 */
export interface CheckpointDocument {
  _id: string;
  group: string;
  partition: number;
  seq: number;
  /** Offset of the first record the checkpoint does not include. */
  nextOffset: number;
  stateUri: string;
  stateSha256: string;
  stateBytes: number;
  /** Rows logged per pipeline in this partition, up to nextOffset (the cheap predictions count). */
  counts: { pipelineId: string; rows: number }[];
  archive: ArchivedFile[];
  createdAt: Date;
}

export const CHECKPOINTS = 'monitoring_checkpoints';
/** Checkpoints kept per partition below the latest; older ones (and their state objects) are trimmed. */
const KEEP_CHECKPOINTS = 10;
/** Trim once every this many checkpoints, so trimming costs a small fraction of a write per checkpoint. */
const TRIM_EVERY = 50;
/** A state larger than this is refused on read: it would be a corrupt or foreign object. */
const MAX_STATE_BYTES = 512 * 1024 * 1024;

function checkpointId(group: string, partition: number, seq: number): string {
  return `${group}|${partition}|${seq}`;
}

function stateKey(group: string, partition: number, seq: number): string {
  return `checkpoints/${encodeURIComponent(group)}/${partition}/${seq}.json`;
}

/** Checkpoints of the prediction stream (`monitoring_checkpoints`) and their state objects. */
@Injectable()
export class CheckpointRepository implements OnModuleInit {
  private readonly checkpoints: Collection<CheckpointDocument>;
  private countsCache?: { group: string; until: number; latest: Promise<CheckpointDocument[]> };

  constructor(private readonly infra: Infrastructure) {
    this.checkpoints = infra.mongo.collection<CheckpointDocument>(CHECKPOINTS);
  }

  async onModuleInit(): Promise<void> {
    await this.infra.objects.ensureBuckets([BUCKETS.monitoring]);
  }

  /**
   * The latest checkpoint of a partition. A scan of the group's few checkpoints (trimming keeps them few), then
   * probes by `_id` past the newest found, so a checkpoint written meanwhile is not missed.
   */
  async latest(group: string, partition: number): Promise<CheckpointDocument | null> {
    const [found] = await this.checkpoints.find({ group, partition }).sort({ seq: -1 }).limit(1).toArray();
    let latest: CheckpointDocument | null = found ?? null;
    for (;;) {
      const next: CheckpointDocument | null = await this.checkpoints.findOne({
        _id: checkpointId(group, partition, (latest?.seq ?? 0) + 1),
      });
      if (!next) return latest;
      latest = next;
    }
  }

  /** The state a checkpoint points at, verified against its sha256. */
  async readState(checkpoint: CheckpointDocument): Promise<Buffer> {
    return this.infra.objects.getVerified({
      uri: checkpoint.stateUri,
      sha256: checkpoint.stateSha256,
      maxBytes: MAX_STATE_BYTES,
    });
  }

  /** Stores a partition's state for checkpoint `seq` (before the checkpoint document that makes it count). */
  async putState(
    group: string,
    partition: number,
    seq: number,
    state: Buffer,
  ): Promise<Pick<CheckpointDocument, 'stateUri' | 'stateSha256' | 'stateBytes'>> {
    const location = { bucket: BUCKETS.monitoring, key: stateKey(group, partition, seq) };
    await this.infra.objects.put(location, state, 'application/json');
    return {
      stateUri: formatObjectUri(location),
      stateSha256: createHash('sha256').update(state).digest('hex'),
      stateBytes: state.length,
    };
  }

  /** Writes checkpoint `seq`; false when it exists already (another owner took that step: reload). */
  async insert(checkpoint: Omit<CheckpointDocument, '_id' | 'createdAt'>): Promise<boolean> {
    try {
      await this.checkpoints.insertOne({
        ...checkpoint,
        _id: checkpointId(checkpoint.group, checkpoint.partition, checkpoint.seq),
        createdAt: new Date(),
      });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 11000) return false;
      throw error;
    }
  }

  /** Every TRIM_EVERY checkpoints, removes those KEEP_CHECKPOINTS or more below `seq` and their state objects. */
  async trim(group: string, partition: number, seq: number): Promise<void> {
    if (seq % TRIM_EVERY !== 0) return;
    const below = seq - KEEP_CHECKPOINTS;
    await this.checkpoints.deleteMany({ group, partition, seq: { $lt: below } });
    const keys = Array.from({ length: TRIM_EVERY + KEEP_CHECKPOINTS }, (_, i) => below - 1 - i)
      .filter((old) => old >= 1)
      .map((old) => stateKey(group, partition, old));
    await this.infra.objects.client.removeObjects(BUCKETS.monitoring, keys);
  }

  /**
   * Rows logged for a pipeline, as of each partition's latest checkpoint: a scan of the group's few checkpoint
   * documents, shared by the requests of the next half second.
   */
  async rowsLogged(group: string, pipelineId: string): Promise<number> {
    const now = Date.now();
    if (!this.countsCache || this.countsCache.group !== group || this.countsCache.until < now) {
      const latest = this.latestOfEachPartition(group);
      this.countsCache = { group, until: now + 500, latest };
      latest.catch(() => (this.countsCache = undefined));
    }
    let rows = 0;
    for (const checkpoint of await this.countsCache.latest) {
      rows += checkpoint.counts.find((count) => count.pipelineId === pipelineId)?.rows ?? 0;
    }
    return rows;
  }

  private async latestOfEachPartition(group: string): Promise<CheckpointDocument[]> {
    const all = await this.checkpoints.find({ group }, { projection: { archive: 0 } }).toArray();
    const latest = new Map<number, CheckpointDocument>();
    for (const checkpoint of all) {
      const seen = latest.get(checkpoint.partition);
      if (!seen || seen.seq < checkpoint.seq) latest.set(checkpoint.partition, checkpoint);
    }
    return [...latest.values()];
  }
}
