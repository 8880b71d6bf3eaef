import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type EventData } from '../event-contract';
import { PREDICTION_LOG_MAX_ROWS, PredictionLoggedV2 } from './prediction-logged-v2';

type Batch = EventData<typeof PredictionLoggedV2>;

const fixture = (): Batch =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'mlops.predictions.logged.v2.json'), 'utf8')) as Batch;

const issuesOf = (data: unknown) =>
  (PredictionLoggedV2.schema.safeParse(data).error?.issues ?? []).map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));

describe('mlops.predictions.logged.v2', () => {
  it('parses a columnar batch across requests and keys it by pipeline', () => {
    const batch = PredictionLoggedV2.schema.parse(fixture());
    expect(batch.rows).toBe(3);
    expect(new Set(batch.requestIds).size).toBe(2);
    expect(batch.inputs.age).toEqual([39, 50, null]);
    expect(PredictionLoggedV2.key(batch)).toBe('adult-income');
    expect(PredictionLoggedV2.maxBytes).toBe(1024 * 1024);
  });

  it('names every per-row array and column whose length differs from rows', () => {
    const batch = fixture();
    expect(
      issuesOf({
        ...batch,
        predictionIds: batch.predictionIds.slice(1),
        servedAt: [...batch.servedAt, 1],
        inputs: { ...batch.inputs, age: [39] },
        outputs: { ...batch.outputs, label: [] },
      }),
    ).toEqual([
      { path: 'predictionIds', message: 'has 2 values but the batch has 3 rows' },
      { path: 'servedAt', message: 'has 4 values but the batch has 3 rows' },
      { path: 'inputs.age', message: 'has 1 values but the batch has 3 rows' },
      { path: 'outputs.label', message: 'has 0 values but the batch has 3 rows' },
    ]);
  });

  it.each([
    ['no batch id', { batchId: '' }, 'batchId'],
    ['no rows', { rows: 0 }, 'rows'],
    ['too many rows', { rows: PREDICTION_LOG_MAX_ROWS + 1 }, 'rows'],
    ['a servedAt that is not epoch milliseconds', { servedAt: ['2026-11-26T06:01:02.123Z', 1, 2] }, 'servedAt.0'],
    ['a boolean input', { inputs: { age: [true, 1, 2] } }, 'inputs.age.0'],
    ['a null output', { outputs: { probability: [null, 0.1, 0.2] } }, 'outputs.probability.0'],
    ['a pipeline id that is not a slug', { pipelineId: 'Adult Income' }, 'pipelineId'],
  ])('rejects %s', (_name, change, path) => {
    expect(issuesOf({ ...fixture(), ...change }).map((issue) => issue.path)).toContain(path);
  });
});
