import { type PipelineSpecInput, PipelineSpecV1 } from '@keel/contracts';
import { InvalidPipelineSpecError } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { type WorkerPool } from '@keel/workers';
import { describe, expect, it, vi } from 'vitest';
import { PipelinesService } from './pipelines.service';

const table = (entityColumns?: string[]) =>
  PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'customer-features',
    task: 'regression',
    target: { column: 'balance_next' },
    timeColumn: 'feature_time',
    ...(entityColumns ? { entityColumns } : {}),
    features: [
      { name: 'balance', type: 'numeric' },
      { name: 'segment', type: 'categorical' },
    ],
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
  } as PipelineSpecInput);

const churn = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'churn',
  task: 'binary-classification',
  target: { column: 'label', positive: 'yes' },
  timeColumn: 'event_time',
  entityColumns: ['customer_id'],
  features: [
    { name: 'tenure', type: 'numeric' },
    { name: 'balance', type: 'numeric' },
  ],
  joins: [{ pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] }],
  training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
} as PipelineSpecInput);

describe('PipelinesService.apply', () => {
  const serviceWith = () => {
    const apply = vi.fn(async (spec: PipelineSpecV1) => ({
      stored: { pipelineId: spec.id, version: 2 },
      created: true,
    }));
    const infra = {
      pipelines: {
        apply,
        get: async (id: string) => ({ spec: id === 'churn' ? churn : table(['customer_id']) }),
        list: async () => [{ spec: table(['customer_id']) }, { spec: churn }],
      },
    } as unknown as Infrastructure;
    return { service: new PipelinesService(infra, {} as WorkerPool), apply };
  };

  it('refuses re-applying a table without what a joining pipeline needs, naming that pipeline, and stores nothing', async () => {
    const { service, apply } = serviceWith();
    const refused = await service.apply('customer-features', table()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidPipelineSpecError);
    expect((refused as InvalidPipelineSpecError).issues.join('\n')).toMatch(
      /^pipeline "churn" joins this one: joins\.0\.entityKey: "customer-features" does not declare "customer_id"/,
    );
    expect(apply).not.toHaveBeenCalled();
  });

  it('applies a table that still serves its joins', async () => {
    const { service, apply } = serviceWith();
    await expect(service.apply('customer-features', table(['customer_id']))).resolves.toMatchObject({ version: 2 });
    expect(apply).toHaveBeenCalledTimes(1);
  });
});
