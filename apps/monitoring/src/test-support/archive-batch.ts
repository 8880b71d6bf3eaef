import { type ArchiveRecord } from '../archive/prediction-archive';
import { type PredictionBatch } from '../stream/partition-state';

/** A v2 prediction-log batch of the given prediction ids, as the archive stores it (one input, one output). */
export function archiveBatch(pipelineId: string, ids: readonly string[], servedAt = Date.now()): PredictionBatch {
  return {
    pipelineId,
    modelName: 'm',
    modelVersion: 1,
    batchId: `${pipelineId}-${ids[0]}`,
    rows: ids.length,
    predictionIds: [...ids],
    requestIds: ids.map((id) => `req-${id}`),
    servedAt: ids.map(() => servedAt),
    inputs: { age: ids.map((_, i) => 30 + i) },
    outputs: { score: ids.map(() => 0.5) },
  } as unknown as PredictionBatch;
}

/** The batch as the archive is handed it: with its bytes as they arrived. */
export function archiveRecord(pipelineId: string, ids: readonly string[], servedAt?: number): ArchiveRecord {
  const batch = archiveBatch(pipelineId, ids, servedAt);
  return { batch, bytes: Buffer.from(JSON.stringify(batch)) };
}
