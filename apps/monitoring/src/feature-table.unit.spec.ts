import {
  AlertRaisedV1,
  type EventData,
  LabelWindowClosedV1,
  PipelineSpecV1,
  TrainingRequestedV2,
} from '@keel/contracts';
import { type MetricsService } from '@keel/service-runtime';
import { EventHandlerHarness, featureTableFixture, pipelineSpecFixture } from '@keel/testing';
import { NotFoundException } from '@nestjs/common';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { AlertMetrics } from './alerts/alert.metrics';
import { type AlertWebhooks } from './alerts/alert-webhooks';
import { AlertsConsumer } from './alerts/alerts.consumer';
import { AlertsService } from './alerts/alerts.service';
import { PolicyMetrics } from './policy/policy.metrics';
import { type RetrainDecisionsRepository } from './policy/retrain-decisions.repository';
import { RetrainPolicyController } from './policy/retrain-policy.controller';
import { RetrainPolicyService } from './policy/retrain-policy.service';
import { INITIAL_POLICY_STATE, type PolicyState, type RetrainSignal } from './policy/retrain-policy';

/**
 * A feature table (`kind: FeatureTable`) has no model: monitoring keeps no retrain policy for it and judges no
 * labelled window of it. Each case beside a model pipeline the same input does move, so it fails if the skip goes.
 */
const table = featureTableFixture({ id: 'customers-monitoring' });
/** A model pipeline whose policy fires on every new row and which alerts on concept drift. */
const model = PipelineSpecV1.parse({
  ...pipelineSpecFixture('adult-income', { id: 'adult-monitoring' }),
  retrainPolicy: { triggers: { newData: { rows: 1 } } },
});

/** The decisions repository's policy states and records in memory; `updates` counts every compare-and-set. */
function policyRepository() {
  const states = new Map<string, PolicyState>();
  const updates: string[] = [];
  const records: unknown[] = [];
  const repository = {
    states: {
      update: async (id: string, change: (current: { state: PolicyState } | null) => PolicyState | null) => {
        updates.push(id);
        const current = states.get(id);
        const next = change(current ? { state: current } : null);
        if (next) states.set(id, next);
        return { current: next ?? current, changed: next !== null };
      },
      read: async (id: string) => {
        const state = states.get(id);
        return state ? { version: 1, state } : null;
      },
    },
    record: async (decision: unknown) => {
      records.push(decision);
    },
    list: async () => records,
  };
  return { repository: repository as unknown as RetrainDecisionsRepository, updates, records };
}

const metricsService = () => ({ registry: new Registry() }) as unknown as MetricsService;

describe('monitoring and a feature table', () => {
  let harness: EventHandlerHarness;

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'monitoring' });
    await harness.pipelines.apply(table);
    await harness.pipelines.apply(model);
  });

  describe('the retrain policy', () => {
    const newData = (pipelineId: string): RetrainSignal => ({
      kind: 'new-data',
      signalId: `dataset:${pipelineId}:1`,
      pipelineId,
      rows: 500,
      datasetVersionId: 'ds-0000000000000001',
      summary: 'a validated version of 500 rows',
    });

    it("takes a table's new data as no signal: no clock moves, no decision, no training request", async () => {
      const { repository, updates, records } = policyRepository();
      const service = new RetrainPolicyService(
        harness.infrastructure,
        repository,
        new PolicyMetrics(metricsService()),
        harness.logger,
      );
      await expect(service.onSignal(newData(table.id))).resolves.toBeNull();
      expect(updates).toEqual([]);
      expect(records).toEqual([]);
      expect(harness.published(TrainingRequestedV2)).toEqual([]);
      // The same signal of a model pipeline moves its clock and fires its policy.
      await expect(service.onSignal(newData(model.id))).resolves.toMatchObject({ outcome: 'fired' });
      expect(updates).toEqual([model.id]);
      expect(harness.published(TrainingRequestedV2).map((event) => event.data.pipelineId)).toEqual([model.id]);
    });

    it("answers 404 for a table's policy, saying it is a feature table", async () => {
      const { repository } = policyRepository();
      const controller = new RetrainPolicyController(harness.infrastructure, repository);
      const refused = await controller.policy(table.id).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(NotFoundException);
      expect((refused as NotFoundException).getResponse()).toMatchObject({
        message: `pipeline "${table.id}" is a feature table: it has no retrain policy`,
      });
      await expect(controller.policy(model.id)).resolves.toMatchObject({
        pipelineId: model.id,
        policy: model.retrainPolicy,
        clock: { rows: INITIAL_POLICY_STATE.rows },
      });
    });
  });

  describe('alerts on a closed label window', () => {
    const window = (pipelineId: string): EventData<typeof LabelWindowClosedV1> =>
      LabelWindowClosedV1.schema.parse({
        pipelineId,
        modelName: pipelineId,
        modelVersion: 1,
        task: 'binary-classification',
        windowIndex: 0,
        labelledCount: 100,
        firstServedAt: '2026-12-04T10:00:00.000Z',
        lastServedAt: '2026-12-04T11:00:00.000Z',
        metrics: { accuracy: 0.5 },
        conceptDrift: {
          detector: 'adwin',
          detected: true,
          detections: 1,
          statistic: 1.5,
          threshold: 1,
          errorMean: 0.5,
        },
      });

    it("judges none of a table's (it has no model), where a model pipeline's raises concept drift", async () => {
      const alerts = new AlertsService(harness.infrastructure, new AlertMetrics(metricsService()));
      await new AlertsConsumer(harness.infrastructure, alerts, {} as AlertWebhooks).onApplicationBootstrap();
      expect(await harness.deliver(LabelWindowClosedV1, window(table.id))).toBe('handled');
      expect(harness.published(AlertRaisedV1)).toEqual([]);
      await harness.deliver(LabelWindowClosedV1, window(model.id));
      expect(harness.published(AlertRaisedV1).map((event) => [event.data.pipelineId, event.data.kind])).toEqual([
        [model.id, 'concept-drift'],
      ]);
    });
  });
});
