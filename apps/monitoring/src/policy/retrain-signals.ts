import {
  type DatasetValidatedV1,
  type DriftDetectedV1,
  type EventData,
  type LabelWindowClosedV1,
} from '@keel/contracts';
import { type RetrainSignal } from './retrain-policy';

/**
 * Signals of the events the policy hears, each named by what it is about (stable across redeliveries and
 * re-evaluations) rather than by its delivery.
 */
export function driftSignal(data: EventData<typeof DriftDetectedV1>): RetrainSignal {
  const features = data.drifted
    .map((entry) => `${entry.feature} ${entry.statistic}=${entry.value.toFixed(3)} (>= ${entry.threshold})`)
    .join(', ');
  return {
    kind: 'feature-drift',
    signalId: `drift:${data.modelName}:v${data.modelVersion}:${data.windowEnd}`,
    pipelineId: data.pipelineId,
    modelVersion: data.modelVersion,
    dataTime: Date.parse(data.windowEnd),
    driftedFeatures: new Set(data.drifted.map((entry) => entry.feature)).size,
    summary: `${data.modelName} v${data.modelVersion}, ${data.rowCount} rows to ${data.windowEnd}: ${features}`,
  };
}

export function newDataSignal(data: EventData<typeof DatasetValidatedV1>): RetrainSignal {
  const rows = data.rowCount ?? 0;
  return {
    kind: 'new-data',
    signalId: `dataset:${data.datasetVersionId}`,
    pipelineId: data.pipelineId,
    rows,
    datasetVersionId: data.datasetVersionId,
    summary: `dataset version ${data.sequence ?? '?'} (${data.datasetVersionId}), ${rows} rows`,
  };
}

/** A closed window of labelled predictions: its realized metrics and the concept-drift detector's verdict. */
export function labelWindowSignal(data: EventData<typeof LabelWindowClosedV1>): RetrainSignal {
  const metrics = Object.entries(data.metrics)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${(value as number).toFixed(4)}`)
    .join(' ');
  const drift = data.conceptDrift;
  return {
    kind: 'label-window',
    signalId: `label-window:${data.modelVersion}:${data.windowIndex}`,
    pipelineId: data.pipelineId,
    modelVersion: data.modelVersion,
    dataTime: Date.parse(data.lastServedAt),
    metrics: { ...data.metrics },
    labelledRows: data.labelledCount,
    conceptDrift: { detector: drift.detector, detected: drift.detected },
    summary:
      `${data.modelName} v${data.modelVersion} window ${data.windowIndex} (${data.labelledCount} labels to ${data.lastServedAt}): ${metrics}` +
      (drift.detected ? `; ${drift.detector} fired (${drift.statistic.toFixed(2)} > ${drift.threshold})` : ''),
  };
}
