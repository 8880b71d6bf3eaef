import { joinDefinitionSha256, type PipelineSpecInput, PipelineSpecV1 } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { signatureJoins } from './model-package';

describe('signatureJoins', () => {
  const spec = (join: Record<string, unknown>) =>
    PipelineSpecV1.parse({
      apiVersion: 'keel/v1',
      kind: 'Pipeline',
      id: 'churn',
      task: 'binary-classification',
      target: { column: 'churned', positive: 'yes' },
      timeColumn: 'event_time',
      entityColumns: ['customer_id'],
      features: [
        { name: 'balance', type: 'numeric' },
        { name: 'segment', type: 'categorical' },
      ],
      joins: [{ pipeline: 'customers', entityKey: 'customer_id', features: ['balance', 'segment'], ...join }],
      training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
    } as PipelineSpecInput);

  it("carries each join's definition hash, so serving reads the view built for the join the model was trained with", () => {
    const joins = signatureJoins(spec({ maxAgeMs: 1_000 }))!;
    expect(joins).toEqual([
      {
        pipeline: 'customers',
        entityKey: 'customer_id',
        features: ['balance', 'segment'],
        maxAgeMs: 1_000,
        joinSha256: joinDefinitionSha256(spec({}).joins![0]),
      },
    ]);
    // another definition (a feature less, a created time) is another view; maxAgeMs alone is applied per model
    expect(signatureJoins(spec({ features: ['balance'] }))![0].joinSha256).not.toBe(joins[0].joinSha256);
    expect(signatureJoins(spec({ createdTime: 'created' }))![0].joinSha256).not.toBe(joins[0].joinSha256);
    expect(signatureJoins(spec({ maxAgeMs: 2_000 }))![0].joinSha256).toBe(joins[0].joinSha256);
  });
});
