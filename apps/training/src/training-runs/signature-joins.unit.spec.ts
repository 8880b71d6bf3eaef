import { joinDefinitionSha256, type PipelineSpecInput, PipelineSpecV1 } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { signatureJoins } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { builtJoinHashes, JoinDefinitionChangedError } from './signature-joins';

const joinTo = (pipeline: string, join: Record<string, unknown> = {}) => ({
  pipeline,
  entityKey: 'customer_id',
  features: pipeline === 'customers' ? ['balance'] : ['segment'],
  ...join,
});

const churn = (joins: Record<string, unknown>[]) =>
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
    joins,
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
  } as PipelineSpecInput);

type Built = Parameters<typeof builtJoinHashes>[1];
const built = (...joins: { tablePipelineId: string; joinSha256: string }[]) =>
  ({ featureSetId: 'fs-1', joins: joins.map((join) => ({ ...join, upToSequence: 3 })) }) as Built;

const refusal = (run: () => unknown): Error => {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('not refused');
};

describe('builtJoinHashes: the online views a model trained on a feature set reads', () => {
  const atTraining = churn([joinTo('customers', { featureTime: 'updated_at' }), joinTo('segments')]);

  it('given an event from a build before it carried joins, then none: the signature keeps the spec’s hashes', () => {
    expect(builtJoinHashes(atTraining, { featureSetId: 'fs-1' } as Built)).toBeUndefined();
    expect(signatureJoins(atTraining, undefined)!.map((join) => join.joinSha256)).toEqual(
      atTraining.joins!.map((join) => joinDefinitionSha256(join)),
    );
  });

  it('given the same definitions, then the hashes the feature set was built with', () => {
    const [customers, segments] = atTraining.joins!.map((join) => joinDefinitionSha256(join));
    const event = built(
      { tablePipelineId: 'segments', joinSha256: segments },
      { tablePipelineId: 'customers', joinSha256: customers },
    );
    expect(builtJoinHashes(atTraining, event)).toEqual({ customers, segments });
  });

  it('given a spec re-applied since with the feature time the registry now records, then the signature names the view features built for the feature set, not the spec’s', () => {
    // Materialized from the spec as applied before feature times were recorded (hashed as null).
    const atMaterialize = churn([joinTo('customers'), joinTo('segments')]);
    const [customers, segments] = atMaterialize.joins!.map((join) => joinDefinitionSha256(join));
    const hashes = builtJoinHashes(
      atTraining,
      built(
        { tablePipelineId: 'customers', joinSha256: customers },
        { tablePipelineId: 'segments', joinSha256: segments },
      ),
    );
    expect(hashes).toEqual({ customers, segments });
    const signature = signatureJoins(atTraining, hashes)!;
    expect(signature.map((join) => [join.pipeline, join.joinSha256])).toEqual([
      ['customers', customers],
      ['segments', segments],
    ]);
    expect(signature[0].joinSha256).not.toBe(joinDefinitionSha256(atTraining.joins![0]));
  });

  it('given a feature set built with another definition of a join, then refused for good, naming the table and what to do', () => {
    const atMaterialize = churn([joinTo('customers', { features: ['balance', 'segment'] })]);
    const atTrainingOne = churn([joinTo('customers')]);
    const error = refusal(() =>
      builtJoinHashes(
        atTrainingOne,
        built({ tablePipelineId: 'customers', joinSha256: joinDefinitionSha256(atMaterialize.joins![0]) }),
      ),
    );
    expect(error).toBeInstanceOf(JoinDefinitionChangedError);
    expect(isRetryable(error)).toBe(false);
    expect(error.message).toMatch(/^feature set fs-1 was built with another definition of its join to "customers"/);
    expect(error.message).toContain("training is requested again to build a feature set with the spec's joins");
  });

  it('given a join added or dropped since the feature set was built, then refused', () => {
    const customers = joinDefinitionSha256(atTraining.joins![0]);
    const segments = joinDefinitionSha256(atTraining.joins![1]);
    expect(
      refusal(() => builtJoinHashes(atTraining, built({ tablePipelineId: 'customers', joinSha256: customers })))
        .message,
    ).toContain('no join to "segments", which the spec declares now');
    const one = churn([joinTo('customers', { featureTime: 'updated_at' })]);
    expect(
      refusal(() =>
        builtJoinHashes(
          one,
          built(
            { tablePipelineId: 'customers', joinSha256: customers },
            { tablePipelineId: 'segments', joinSha256: segments },
          ),
        ),
      ).message,
    ).toContain('a join to "segments", which the spec no longer declares');
  });
});
