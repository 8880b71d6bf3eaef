import { type EventData, type PredictionLoggedV1, type PredictionLoggedV2 } from '@keel/contracts';

type V1 = EventData<typeof PredictionLoggedV1>;
type V2 = EventData<typeof PredictionLoggedV2>;

/**
 * A v1 prediction log (one request, row objects) as a v2 batch (columns), so one consumer holds the windows. Its batch
 * id derives from the v1 event's id, so a redelivered v1 event is the same batch. A prediction id repeated within the
 * request keeps its first row, as v1 monitoring did; booleans become strings ("true"), which drift compares as v1
 * did (a category; missing as a number).
 */
export function upcastPredictionLog(eventId: string, event: V1): V2 {
  const seen = new Set<string>();
  const rows = event.predictions.filter((row) => !seen.has(row.predictionId) && seen.add(row.predictionId));
  const servedAt = Date.parse(event.servedAt);
  const inputs: V2['inputs'] = {};
  const outputs: V2['outputs'] = {};
  rows.forEach((row, i) => {
    for (const [name, value] of Object.entries(row.inputs)) {
      (inputs[name] ??= new Array<number | string | null>(rows.length).fill(null))[i] =
        typeof value === 'boolean' ? String(value) : value;
    }
  });
  const outputNames = [...new Set(rows.flatMap((row) => Object.keys(row.outputs)))];
  for (const name of outputNames) {
    // v2 outputs have no nulls: a row without the output gets an empty string, which summaries count as missing.
    outputs[name] = rows.map((row) => row.outputs[name] ?? '');
  }
  return {
    pipelineId: event.pipelineId,
    modelName: event.modelName,
    modelVersion: event.modelVersion,
    batchId: `v1-${eventId}`,
    rows: rows.length,
    predictionIds: rows.map((row) => row.predictionId),
    requestIds: rows.map(() => event.requestId),
    servedAt: rows.map(() => servedAt),
    inputs,
    outputs,
  };
}
