import { describe, expect, it } from 'vitest';
import { datasetColumns, datasetSchema, type PipelineSpecInput, PipelineSpecV1 } from './pipeline-spec';
import {
  featureTimeMoveIssues,
  joinDefinitionSha256,
  joinTableIssues,
  PointInTimeJoinSpec,
  withJoinFeatureTimes,
} from './point-in-time-joins';

/** A feature table: customers' balances and segments over time, an ordinary pipeline keyed by customer_id. */
const table: PipelineSpecInput = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'customer-features',
  task: 'regression',
  target: { column: 'balance_next' },
  timeColumn: 'feature_time',
  entityColumns: ['customer_id'],
  features: [
    { name: 'balance', type: 'numeric' },
    { name: 'segment', type: 'categorical' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
} as PipelineSpecInput;

/** Churn rows joined to the table as of each row's event time. */
const churn = (changes: Partial<Record<string, unknown>> = {}): PipelineSpecInput =>
  ({
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
      { name: 'segment', type: 'categorical' },
    ],
    joins: [
      {
        pipeline: 'customer-features',
        entityKey: 'customer_id',
        features: ['balance', 'segment'],
        maxAgeMs: 129_600_000,
      },
    ],
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
    ...changes,
  }) as PipelineSpecInput;

const issuesOf = (input: PipelineSpecInput) => {
  const parsed = PipelineSpecV1.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('point-in-time joins in the spec', () => {
  it('keeps joined features out of the dataset and entity columns in it, as nullable strings', () => {
    const spec = PipelineSpecV1.parse(churn());
    expect(datasetColumns(spec)).toEqual(['tenure', 'label', 'event_time', 'customer_id']);
    expect(datasetSchema(spec).at(-1)).toEqual({
      name: 'customer_id',
      type: 'string',
      role: 'entity',
      nullable: true,
    });
    // the table pipeline carries its key too
    expect(datasetColumns(PipelineSpecV1.parse(table))).toEqual([
      'balance',
      'segment',
      'balance_next',
      'feature_time',
      'customer_id',
    ]);
  });

  it('leaves a spec without joins exactly as before: no keys added', () => {
    const { joins: _joins, entityColumns: _entityColumns, ...plain } = churn() as Record<string, unknown>;
    const spec = PipelineSpecV1.parse(plain);
    expect('joins' in spec || 'entityColumns' in spec).toBe(false);
    expect(datasetColumns(spec)).toEqual(['tenure', 'balance', 'segment', 'label', 'event_time']);
  });

  it.each([
    ['no timeColumn', { timeColumn: undefined }, /^joins: a point-in-time join needs timeColumn/],
    ['a key not in entityColumns', { entityColumns: ['account_id'] }, /^joins\.0\.entityKey: "customer_id" is not in/],
    [
      'an undeclared feature',
      { features: [{ name: 'tenure', type: 'numeric' }] },
      /^joins\.0\.features\.0: "balance" is not a declared feature/,
    ],
    [
      'a feature that may not be missing',
      {
        features: [
          { name: 'tenure', type: 'numeric' },
          { name: 'balance', type: 'numeric', nullable: false },
          { name: 'segment', type: 'categorical' },
        ],
      },
      /^joins\.0\.features\.0: "balance" must be nullable/,
    ],
    [
      'a feature joined twice',
      {
        joins: [
          { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] },
          { pipeline: 'other-features', entityKey: 'customer_id', features: ['balance', 'segment'] },
        ],
      },
      /^joins\.1\.features\.0: "balance" is joined twice/,
    ],
    [
      'the same table joined twice',
      {
        joins: [
          { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], maxAgeMs: 1_000 },
          { pipeline: 'customer-features', entityKey: 'customer_id', features: ['segment'] },
        ],
      },
      /^joins\.1\.pipeline: "customer-features" is joined twice: put its features in one join/,
    ],
    [
      'an entity key that is a numeric feature',
      {
        entityColumns: ['store_id'],
        features: [
          { name: 'store_id', type: 'numeric' },
          { name: 'balance', type: 'numeric' },
          { name: 'segment', type: 'categorical' },
        ],
        joins: [{ pipeline: 'customer-features', entityKey: 'store_id', features: ['balance', 'segment'] }],
      },
      /^joins\.0\.entityKey: "store_id" is a numeric feature/,
    ],
    [
      'its own dataset',
      { joins: [{ pipeline: 'churn', entityKey: 'customer_id', features: ['balance'] }] },
      /^joins\.0\.pipeline: a pipeline cannot join its own dataset/,
    ],
    [
      'a zero maxAgeMs',
      { joins: [{ pipeline: 'x1', entityKey: 'customer_id', features: ['balance'], maxAgeMs: 0 }] },
      /maxAgeMs/,
    ],
  ])('refuses %s, naming the field', (_name, changes, expected) => {
    expect(issuesOf(churn(changes)).join('\n')).toMatch(new RegExp(expected.source, 'm'));
  });

  it("checks the table's columns and types where the spec is applied", () => {
    const spec = PipelineSpecV1.parse(churn());
    const tableSpec = PipelineSpecV1.parse(table);
    const found = {
      schema: datasetSchema(tableSpec),
      timeColumn: tableSpec.timeColumn,
      entityColumns: tableSpec.entityColumns,
    };
    const join = spec.joins![0];
    expect(joinTableIssues(spec, join, 0, found)).toEqual([]);
    expect(joinTableIssues(spec, join, 0, undefined)).toEqual([
      { path: ['joins', 0, 'pipeline'], message: 'pipeline "customer-features" is not applied: apply it first' },
    ]);
    const wrong = { ...join, entityKey: 'account_id', featureTime: 'balance', features: ['segment', 'tenure'] };
    const swapped = {
      ...spec,
      features: spec.features.map((f) => (f.name === 'segment' ? { ...f, type: 'numeric' as const } : f)),
    } as PipelineSpecV1;
    expect(joinTableIssues(swapped, wrong, 0, found).map((issue) => issue.message)).toEqual([
      '"customer-features" does not declare "account_id" in its entityColumns',
      '"balance" is not a timestamp column of "customer-features"',
      '"segment" is string in "customer-features", number here',
      '"customer-features" has no column "tenure"',
    ]);
  });

  it('hashes what a view is built from: the table, key, times and features, not maxAgeMs', () => {
    const base = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    const sha = joinDefinitionSha256(base);
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(joinDefinitionSha256({ ...base, maxAgeMs: 1_000 })).toBe(sha);
    const two = { ...base, features: ['balance', 'segment'] };
    expect(joinDefinitionSha256({ ...two, features: ['segment', 'balance'] })).toBe(joinDefinitionSha256(two));
    for (const changed of [
      { ...base, features: ['balance', 'segment'] },
      { ...base, entityKey: 'account_id' },
      { ...base, featureTime: 'updated_at' },
      { ...base, createdTime: 'created_at' },
      { ...base, pipeline: 'other' },
    ]) {
      expect(joinDefinitionSha256(changed)).not.toBe(sha);
    }
  });

  it("records the table's timeColumn in each join that names no feature time, so the join's hash covers it", () => {
    const spec = PipelineSpecV1.parse(churn());
    const recorded = withJoinFeatureTimes(spec, (table) =>
      table === 'customer-features' ? 'feature_time' : undefined,
    );
    expect(recorded.joins![0]).toMatchObject({ featureTime: 'feature_time', maxAgeMs: 129_600_000 });
    expect(spec.joins![0].featureTime).toBeUndefined(); // the parsed spec is not changed
    // a table re-applied with another timeColumn later changes neither the recorded join nor its hash
    const later = withJoinFeatureTimes(recorded, () => 'updated_at');
    expect(joinDefinitionSha256(later.joins![0])).toBe(joinDefinitionSha256(recorded.joins![0]));
    // an explicit feature time is kept; a table not applied leaves the join to joinTableIssues
    const named = PipelineSpecV1.parse(churn({ joins: [{ ...churn().joins![0], featureTime: 'updated_at' }] }));
    expect(withJoinFeatureTimes(named, () => 'feature_time').joins![0].featureTime).toBe('updated_at');
    expect(withJoinFeatureTimes(spec, () => undefined).joins![0].featureTime).toBeUndefined();
  });

  it('records the feature time in schema order, so the spec read back and applied again is the same JSON', () => {
    const recorded = withJoinFeatureTimes(PipelineSpecV1.parse(churn()), () => 'feature_time');
    const readBack = PipelineSpecV1.parse(JSON.parse(JSON.stringify(recorded)));
    expect(JSON.stringify(withJoinFeatureTimes(readBack, () => 'feature_time'))).toBe(JSON.stringify(recorded));
    expect(Object.keys(recorded.joins![0])).toEqual(Object.keys(PointInTimeJoinSpec.parse(recorded.joins![0])));
  });

  it("refuses moving a table's timeColumn that a join reads, named, recorded or implied, with one remedy", () => {
    const join = PipelineSpecV1.parse(churn()).joins![0];
    expect(featureTimeMoveIssues(join, 0, { before: 'feature_time', after: 'feature_time' })).toEqual([]);
    // a join reading another column (a table that had several timestamps) is not held back by this one moving
    expect(featureTimeMoveIssues({ ...join, featureTime: 'created' }, 0, { before: 'a', after: 'b' })).toEqual([]);
    for (const reading of [join, { ...join, featureTime: 'feature_time' }]) {
      const [issue] = featureTimeMoveIssues(reading, 0, { before: 'feature_time', after: 'updated_at' });
      expect(issue.path).toEqual(['joins', 0, 'featureTime']);
      expect(issue.message).toBe(
        'reads timeColumn "feature_time" as its feature time, so the table cannot move its timeColumn to ' +
          '"updated_at": remove that join (or point it at another table) first',
      );
    }
  });
});
