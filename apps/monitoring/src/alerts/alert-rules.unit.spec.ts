import {
  type EventData,
  type LabelWindowClosedV1,
  type ModelRolloutTransitionedV1,
  PipelineSpecV1,
  type TrainingFailedV1,
} from '@keel/contracts';
import { pipelineSpecFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import { labelWindowAlerts, rolloutAlert, trainingFailedAlert } from './alert-rules';

const failed = {
  pipelineId: 'elec2',
  datasetVersionId: 'ds-0123456789abcdef',
  featureSetId: 'fs-0123456789abcdef',
  trigger: { reason: 'performance-drop', requestId: 'elec2:policy:7', requestedBy: 'monitoring' },
  errorCode: 'untrainable',
  error: 'only one class in the training split',
  failedAt: '2026-12-02T10:00:00.000Z',
} as EventData<typeof TrainingFailedV1>;

const transition = {
  pipelineId: 'elec2',
  modelName: 'elec2',
  environment: 'production',
  rolloutId: 'elec2 rollout#4',
  strategy: 'canary',
  candidateVersion: 5,
  baselineVersion: 4,
  from: 'progressing',
  to: 'rolled-back',
  trigger: 'analysis-failed',
  reason: 'error rate 0.08 > 0.01',
  actor: 'rollout-driver',
  step: 1,
  candidateWeight: 0,
  mirrored: false,
  revision: 3,
} as EventData<typeof ModelRolloutTransitionedV1>;

describe('alert rules', () => {
  it('keys a failed requested run by its request, critical; a failed new-data run by its feature set, a warning', () => {
    expect(trainingFailedAlert(failed)).toMatchObject({
      alertKey: 'elec2:training-failed:elec2:policy:7',
      kind: 'training-failed',
      severity: 'critical',
      details: { requestId: 'elec2:policy:7', errorCode: 'untrainable' },
    });
    expect(trainingFailedAlert({ ...failed, trigger: { reason: 'new-data' } })).toMatchObject({
      alertKey: 'elec2:training-failed:fs-0123456789abcdef',
      severity: 'warning',
      details: { requestId: null },
    });
  });

  it('alerts on a rollout its analysis rolled back or staging rejected, and on nothing else', () => {
    expect(rolloutAlert(transition)).toMatchObject({
      alertKey: 'elec2:rollout-rolled-back:elec2-rollout-4:r3',
      severity: 'critical',
      modelVersion: 5,
    });
    expect(rolloutAlert({ ...transition, to: 'rejected', trigger: 'staging-failed' })?.severity).toBe('warning');
    expect(rolloutAlert({ ...transition, to: 'rolled-back', trigger: 'rollback' })).toBeNull();
    expect(rolloutAlert({ ...transition, to: 'progressing', trigger: 'analysis-passed' })).toBeNull();
  });

  it('raises a performance drop past the policy bound and concept drift, keyed by version and window', () => {
    const spec = PipelineSpecV1.parse({
      ...pipelineSpecFixture('adult-income', { id: 'elec2' }),
      retrainPolicy: { triggers: { performanceDrop: { metric: 'accuracy', below: 0.7 } } },
    });
    const window = {
      pipelineId: 'elec2',
      modelName: 'elec2',
      modelVersion: 2,
      task: 'binary-classification',
      windowIndex: 4,
      labelledCount: 96,
      firstServedAt: '2026-12-02T10:00:00.000Z',
      lastServedAt: '2026-12-02T11:00:00.000Z',
      metrics: { accuracy: 0.65 },
      conceptDrift: { detector: 'adwin', detected: true, detections: 1, statistic: 1.2, threshold: 1, errorMean: 0.35 },
    } as EventData<typeof LabelWindowClosedV1>;
    expect(labelWindowAlerts(window, spec).map((a) => [a.alertKey, a.severity])).toEqual([
      ['elec2:performance-drop:v2:w4', 'critical'],
      ['elec2:concept-drift:v2:w4', 'warning'],
    ]);
    const fine = { ...window, metrics: { accuracy: 0.75 }, conceptDrift: { ...window.conceptDrift, detected: false } };
    expect(labelWindowAlerts(fine, spec)).toEqual([]);
  });
});
