import { describe, expect, it } from 'vitest';
import { datasetColumns, datasetSchema, isFeatureTable, PipelineSpecV1 } from './pipeline-spec';
import { FeatureTableSpecV1, MODEL_ONLY_SECTIONS, safeParsePipelineSpec } from './pipeline-spec-table';
import { joinTableIssues } from './point-in-time-joins';

/** Customers' balances and segments over time: a feature table, no model. */
const table = (changes: Record<string, unknown> = {}): unknown => ({
  apiVersion: 'keel/v1',
  kind: 'FeatureTable',
  id: 'customer-features',
  timeColumn: 'feature_time',
  entityColumns: ['customer_id'],
  features: [
    { name: 'balance', type: 'numeric' },
    { name: 'segment', type: 'categorical' },
  ],
  ...changes,
});

const issuesOf = (input: unknown): string[] => {
  const parsed = safeParsePipelineSpec(input);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('a feature table spec (kind FeatureTable)', () => {
  it('is accepted with entity keys, a time column, features and the data sections, defaults filled', () => {
    const parsed = safeParsePipelineSpec(
      table({
        validation: { minRows: 10, shift: { columns: { balance: { action: 'reject' } } } },
        ingestion: { batchRows: 500 },
      }),
    );
    expect(parsed.success).toBe(true);
    const spec = parsed.data!;
    expect(isFeatureTable(spec)).toBe(true);
    if (!isFeatureTable(spec)) return;
    expect(spec.validation).toMatchObject({ minRows: 10, maxMissingRate: 0.3 });
    expect(spec.ingestion).toEqual({ batchRows: 500, flushAfterMs: 3_000 });
    expect(spec.sources).toEqual([]);
    expect(spec).not.toHaveProperty('task');
  });

  it('has a dataset of its features, its time column and its entity keys (never missing)', () => {
    const spec = FeatureTableSpecV1.parse(table());
    expect(datasetColumns(spec)).toEqual(['balance', 'segment', 'feature_time', 'customer_id']);
    expect(datasetSchema(spec)).toEqual([
      { name: 'balance', type: 'number', role: 'numeric', nullable: true },
      { name: 'segment', type: 'string', role: 'categorical', nullable: true },
      { name: 'feature_time', type: 'timestamp', role: 'time', nullable: false },
      { name: 'customer_id', type: 'string', role: 'entity', nullable: false },
    ]);
  });

  it('may declare a created-time column, a timestamp a join can break ties by', () => {
    const spec = FeatureTableSpecV1.parse(table({ createdTimeColumn: 'created' }));
    expect(datasetSchema(spec).at(-1)).toEqual({ name: 'created', type: 'timestamp', role: 'time', nullable: true });
    expect(issuesOf(table({ createdTimeColumn: 'feature_time' }))).toEqual([
      'createdTimeColumn: "feature_time" is already the time column, a feature or an entity column',
    ]);
  });

  it.each(MODEL_ONLY_SECTIONS)('refuses the model-only section %s, naming it', (section) => {
    expect(issuesOf(table({ [section]: {} }))).toContainEqual(
      `${section}: a FeatureTable has no model: "${section}" belongs to kind Pipeline`,
    );
  });

  it('names every model-only section of a model pipeline turned into a table at once', () => {
    const issues = issuesOf(
      table({ task: 'regression', target: { column: 'y' }, training: { algorithms: ['gbdt'], primaryMetric: 'rmse' } }),
    );
    expect(issues.filter((issue) => issue.includes('belongs to kind Pipeline')).map((i) => i.split(':')[0])).toEqual([
      'task',
      'target',
      'training',
    ]);
  });

  it('reports a model-only section and the rest of the document in one pass', () => {
    expect(issuesOf(table({ task: 'regression', timeColumn: undefined }))).toEqual([
      expect.stringMatching(/^timeColumn: /) as string,
      'task: a FeatureTable has no model: "task" belongs to kind Pipeline',
    ]);
  });

  it('needs entity keys and a time column', () => {
    expect(issuesOf(table({ entityColumns: undefined }))).toEqual([
      expect.stringMatching(/^entityColumns: /) as string,
    ]);
    expect(issuesOf(table({ entityColumns: [] }))).toEqual([expect.stringMatching(/^entityColumns: /) as string]);
    expect(issuesOf(table({ timeColumn: undefined }))).toEqual([expect.stringMatching(/^timeColumn: /) as string]);
  });

  it('refuses keys and a time column that are also features, and a key twice', () => {
    expect(issuesOf(table({ entityColumns: ['customer_id', 'customer_id'] }))).toEqual([
      'entityColumns.1: "customer_id" twice',
    ]);
    expect(issuesOf(table({ entityColumns: ['segment'] }))).toEqual([
      'entityColumns.0: "segment" is a feature: an entity key is a column of its own',
    ]);
    expect(issuesOf(table({ entityColumns: ['feature_time'] }))).toEqual([
      'entityColumns.0: "feature_time" is the time column',
    ]);
    expect(issuesOf(table({ timeColumn: 'balance' }))).toEqual(['timeColumn: "balance" is also a feature']);
  });

  it('judges shift on its features only (no target)', () => {
    expect(issuesOf(table({ validation: { shift: { columns: { label: { action: 'warn' } } } } }))).toEqual([
      'validation.shift.columns.label: no feature "label" (shift is measured on the features)',
    ]);
    expect(issuesOf(table({ validation: { bias: [] } }))).toEqual([
      'validation.bias: a FeatureTable has no model: "validation.bias" belongs to kind Pipeline',
    ]);
  });

  it("checks its sources' cleaning against its dataset", () => {
    const cleaning = { rename: { bal: 'balance' }, filter: 'bal > 1' };
    const sources = [{ kind: 'http', id: 'api', url: 'https://example.com/customers', cleaning }];
    expect(issuesOf(table({ sources }))).toEqual([
      'sources.0.cleaning.filter: bal (at character 1) was renamed to balance by rename: name it balance here',
    ]);
  });

  it('is a table any join can name: its schema, time column and keys serve the join checks', () => {
    const spec = FeatureTableSpecV1.parse(table());
    const joining = PipelineSpecV1.parse({
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
    });
    const tableView = { schema: datasetSchema(spec), timeColumn: spec.timeColumn, entityColumns: spec.entityColumns };
    expect(joinTableIssues(joining, joining.joins![0]!, 0, tableView)).toEqual([]);
  });
});

describe('a spec of either kind', () => {
  const model = {
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'churn',
    task: 'regression',
    target: { column: 'y' },
    features: [{ name: 'x', type: 'numeric' }],
    training: { algorithms: ['gbdt'], primaryMetric: 'rmse' },
  };

  it('keeps kind Pipeline a model pipeline, exactly as PipelineSpecV1 reads it (stored specs read the same)', () => {
    const parsed = safeParsePipelineSpec(model);
    expect(parsed.success).toBe(true);
    expect(isFeatureTable(parsed.data!)).toBe(false);
    expect(parsed.data).toEqual(PipelineSpecV1.parse(model));
    expect(safeParsePipelineSpec(JSON.parse(JSON.stringify(parsed.data)))).toEqual(parsed);
  });

  it('reads a model pipeline with entity columns (an old-style table) as a model pipeline', () => {
    const parsed = safeParsePipelineSpec({ ...model, timeColumn: 't', entityColumns: ['customer_id'] });
    expect(parsed.success && !isFeatureTable(parsed.data)).toBe(true);
  });

  it('keeps the stored text of a model pipeline as before: validation writes bias before shift', () => {
    const parsed = safeParsePipelineSpec({ ...model, validation: { shift: { against: 'previous' } } });
    // The order main stored: an unchanged spec re-applied compares equal as text, so it is not a new version.
    expect(JSON.stringify(parsed.data && 'validation' in parsed.data ? parsed.data.validation : null)).toBe(
      '{"maxMissingRate":0.3,"maxUnseenCategoryRate":0.05,"rangeTolerance":0.5,"minRows":100,"bias":[],' +
        '"shift":{"against":"previous","action":"warn","columns":{}}}',
    );
  });

  it('names the kinds when kind is neither', () => {
    expect(issuesOf({ ...model, kind: 'Table' })).toEqual([
      'kind: kind is Pipeline (a model pipeline) or FeatureTable (a feature table)',
    ]);
  });

  it('reads a stored table back as the same table', () => {
    const spec = FeatureTableSpecV1.parse(table());
    expect(safeParsePipelineSpec(JSON.parse(JSON.stringify(spec)))).toEqual({ success: true, data: spec });
  });
});
