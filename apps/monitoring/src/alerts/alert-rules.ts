import {
  type AlertRaisedV1,
  type DatasetRejectedV1,
  type DriftDetectedV1,
  type EventData,
  type LabelWindowClosedV1,
  type ModelRegisteredV1,
  type ModelRolloutTransitionedV1,
  type PipelineSpecV1,
  type TrainingFailedV1,
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

/**
 * A training run that failed for good: critical when a retrain was asked for (the loop stays on a model it judged
 * wanting), a warning for a new-data run. Keyed by the request, or by the feature set for a new-data run.
 */
export function trainingFailedAlert(data: EventData<typeof TrainingFailedV1>): AlertDraft {
  const { trigger } = data;
  const subject = trigger.requestId ? `request ${trigger.requestId}` : `feature set ${data.featureSetId}`;
  return {
    alertKey: `${data.pipelineId}:training-failed:${keyPart(trigger.requestId ?? data.featureSetId)}`.slice(0, 300),
    kind: 'training-failed',
    severity: trigger.requestId ? 'critical' : 'warning',
    pipelineId: data.pipelineId,
    summary: `Training of ${data.pipelineId} failed (${trigger.reason}, ${subject}): ${data.error}`.slice(0, 500),
    details: {
      reason: trigger.reason,
      requestId: trigger.requestId ?? null,
      requestedBy: trigger.requestedBy ?? null,
      featureSetId: data.featureSetId,
      datasetVersionId: data.datasetVersionId,
      window: data.window ?? null,
      errorCode: data.errorCode,
      error: data.error,
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

/**
 * A rollout its analysis rolled back (critical: it failed on production traffic) or its staging check rejected (a
 * warning); null for any other transition. Keyed by rollout and revision, so a redelivery is one alert.
 */
export function rolloutAlert(data: EventData<typeof ModelRolloutTransitionedV1>): AlertDraft | null {
  if (data.trigger !== 'analysis-failed' && data.trigger !== 'staging-failed') return null;
  return {
    alertKey: `${data.pipelineId}:rollout-rolled-back:${keyPart(data.rolloutId)}:r${data.revision}`.slice(0, 300),
    kind: 'rollout-rolled-back',
    severity: data.trigger === 'analysis-failed' ? 'critical' : 'warning',
    pipelineId: data.pipelineId,
    modelName: data.modelName,
    modelVersion: data.candidateVersion,
    summary:
      `Rollout of ${data.modelName} v${data.candidateVersion} ${data.to === 'rejected' ? 'rejected in staging' : 'rolled back'} (${data.trigger}): ${data.reason}`.slice(
        0,
        500,
      ),
    details: {
      rolloutId: data.rolloutId,
      environment: data.environment,
      strategy: data.strategy,
      trigger: data.trigger,
      to: data.to,
      step: data.step,
      baselineVersion: data.baselineVersion ?? null,
      reason: data.reason,
    },
  };
}

/**
 * The alerts a closed labelled window raises: a performance drop when its metric is past the pipeline's bound (the
 * alerts section's, else the retrain policy's), and concept drift when the detector fired in it. Keyed by model
 * version and window, so a republished window is the same alert.
 */
export function labelWindowAlerts(data: EventData<typeof LabelWindowClosedV1>, spec: PipelineSpecV1): AlertDraft[] {
  const alerts: AlertDraft[] = [];
  const window = `${data.pipelineId}:v${data.modelVersion}:w${data.windowIndex}`;
  const bound = spec.alerts.performanceDrop ?? spec.retrainPolicy?.triggers.performanceDrop;
  const value = bound ? data.metrics[bound.metric] : undefined;
  if (bound && value !== undefined) {
    const below = bound.below !== undefined && value < bound.below;
    const above = bound.above !== undefined && value > bound.above;
    if (below || above) {
      const limit = (below ? bound.below : bound.above)!;
      alerts.push({
        alertKey: `${data.pipelineId}:performance-drop:v${data.modelVersion}:w${data.windowIndex}`,
        kind: 'performance-drop',
        severity: 'critical',
        pipelineId: data.pipelineId,
        modelName: data.modelName,
        modelVersion: data.modelVersion,
        summary: `${bound.metric} of ${data.modelName} v${data.modelVersion} is ${value.toFixed(4)}, ${below ? 'below' : 'above'} ${limit}, on ${data.labelledCount} labels to ${data.lastServedAt}`,
        details: {
          metric: bound.metric,
          value,
          bound: limit,
          labelled: data.labelledCount,
          window: data.windowIndex,
          lastServedAt: data.lastServedAt,
        },
      });
    }
  }
  const drift = data.conceptDrift;
  if (drift.detected) {
    alerts.push({
      alertKey: `${data.pipelineId}:concept-drift:v${data.modelVersion}:w${data.windowIndex}`,
      kind: 'concept-drift',
      severity: 'warning',
      pipelineId: data.pipelineId,
      modelName: data.modelName,
      modelVersion: data.modelVersion,
      summary: `Concept drift in ${data.modelName} v${data.modelVersion}: ${drift.detector} fired ${drift.detections} time(s) in window ${data.windowIndex} (error mean ${drift.errorMean.toFixed(4)})`,
      details: {
        detector: drift.detector,
        detections: drift.detections,
        statistic: drift.statistic,
        threshold: drift.threshold,
        errorMean: drift.errorMean,
        window,
      },
    });
  }
  return alerts;
}
