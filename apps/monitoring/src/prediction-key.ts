/**
 * `_id` of a logged prediction and of its label: prediction ids are unique within a pipeline, so two pipelines (or
 * two clients of different pipelines) can never share one log entry or one label (docs/design/repositories.md).
 */
export function predictionKey(pipelineId: string, predictionId: string): string {
  return `${pipelineId}|${predictionId}`;
}

/** True for a document stored under an older key (the bare prediction id, or an ObjectId) that start-up migrates. */
export function hasLegacyKey(document: { _id: unknown; pipelineId: string; predictionId: string }): boolean {
  return document._id !== predictionKey(document.pipelineId, document.predictionId);
}
