import {
  type AlertRaisedV1,
  type DatasetRejectedV1,
  type DriftDetectedV1,
  type EventData,
  type ModelRegisteredV1,
} from '@keel/contracts';

/** An alert before it is raised: everything but when and in which trace. */
export type AlertDraft = Omit<EventData<typeof AlertRaisedV1>, 'raisedAt' | 'traceId' | 'details'> & {
  details: Record<string, string | number | boolean | null>;
};

/** Keys hold only what the contract allows; anything else in a name becomes `-`. */
function keyPart(value: string | number): string {
  return String(value).replace(/[^A-Za-z0-9._:@/-]/g, '-');
}

/**
 * A drift window: warning, critical when a statistic is at twice its threshold. Keyed by the model version and the
 * window's end, so a re-evaluated or redelivered window is the same alert.
 */
export function driftAlert(data: EventData<typeof DriftDetectedV1>): AlertDraft {
  const worst = Math.max(...data.drifted.map((entry) => entry.value / entry.threshold));
  const names = [...new Set(data.drifted.map((entry) => entry.feature))];
  return {
    alertKey: `${data.pipelineId}:feature-drift:v${data.modelVersion}:${keyPart(data.windowEnd)}`,
    kind: 'feature-drift',
    severity: worst >= 2 ? 'critical' : 'warning',
    pipelineId: data.pipelineId,
    modelName: data.modelName,
    modelVersion: data.modelVersion,
    summary:
      `Drift in ${data.modelName} v${data.modelVersion}: ${data.drifted.map((e) => `${e.feature} ${e.statistic} ${e.value.toFixed(3)} >= ${e.threshold}`).join(', ')}`.slice(
        0,
        500,
      ),
    details: {
      features: names.join(',').slice(0, 1_000),
      drifted: data.drifted.length,
      rows: data.rowCount,
      windowStart: data.windowStart,
      windowEnd: data.windowEnd,
      worstRatio: Number(worst.toFixed(4)),
    },
  };
}

export function datasetRejectedAlert(data: EventData<typeof DatasetRejectedV1>): AlertDraft {
  return {
    alertKey: `${data.pipelineId}:dataset-rejected:${data.datasetVersionId}`,
    kind: 'dataset-rejected',
    severity: 'warning',
    pipelineId: data.pipelineId,
    summary:
      `Dataset version ${data.datasetVersionId} rejected: ${data.failures.map((f) => f.message).join('; ')}`.slice(
        0,
        500,
      ),
    details: {
      datasetVersionId: data.datasetVersionId,
      failures: data.failures.length,
      checks: [...new Set(data.failures.map((f) => f.check))].join(','),
      report: data.reportUri,
    },
  };
}

/** A registered version that failed a gate: it will not become champion. Null when every gate passed. */
export function gateRejectedAlert(data: EventData<typeof ModelRegisteredV1>): AlertDraft | null {
  if (data.gatesPassed) return null;
  const failed = data.gates.filter((gate) => !gate.passed);
  return {
    alertKey: `${data.pipelineId}:gate-rejected:${keyPart(data.modelName)}:v${data.version}`,
    kind: 'gate-rejected',
    severity: 'warning',
    pipelineId: data.pipelineId,
    modelName: data.modelName,
    modelVersion: data.version,
    summary:
      `${data.modelName} v${data.version} failed its gates: ${failed.map((g) => g.message ?? g.gate).join('; ')}`.slice(
        0,
        500,
      ),
    details: { failedGates: failed.map((g) => g.gate).join(','), packageSha256: data.packageSha256 },
  };
}
