import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type PipelineSpecInput, PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable, type PointInTimeJoin, type SnapshotIncrement } from '@keel/datasets';
import { repoRoot } from '@keel/testing';

type Column = (number | string | null)[];

/** The pandas/DuckDB reference fixture of libs/datasets (tools/reference/point-in-time/make_fixture.py writes it). */
const fixture = JSON.parse(
  readFileSync(resolve(repoRoot, 'libs/datasets/src/fixtures/point-in-time.json'), 'utf8'),
) as {
  maxAgeMs: number;
  rows: { customer_id: string[]; event_time: string[]; label: number[] };
  features: { customer_id: string[]; feature_time: string[]; created: string[]; balance: number[]; segment: string[] };
  expected: { balance: Column; segment: Column };
};
export { fixture as pointInTimeFixture };

/** A customer feature table: an ordinary pipeline keyed by customer_id, its timeColumn the feature time. */
export function customerTableSpec(id: string): PipelineSpecV1 {
  return PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'regression',
    target: { column: 'balance_next' },
    timeColumn: 'feature_time',
    entityColumns: ['customer_id'],
    features: [
      { name: 'balance', type: 'numeric' },
      { name: 'segment', type: 'categorical' },
    ],
    validation: { minRows: 1 },
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
  } as PipelineSpecInput);
}

/** The fixture's rows, whose features come only from the table as of each row's event time. */
export function churnSpec(id: string, table: string, createdTime?: string): PipelineSpecV1 {
  return PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'binary-classification',
    target: { column: 'label', positive: '1' },
    timeColumn: 'event_time',
    entityColumns: ['customer_id'],
    features: [
      { name: 'balance', type: 'numeric' },
      { name: 'segment', type: 'categorical' },
    ],
    joins: [
      {
        pipeline: table,
        entityKey: 'customer_id',
        ...(createdTime ? { createdTime } : {}),
        features: ['balance', 'segment'],
        maxAgeMs: fixture.maxAgeMs,
      },
    ],
    validation: { minRows: 1 },
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
  } as PipelineSpecInput);
}

/** The fixture's training rows as a dataset version of {@link churnSpec}. */
export function churnRows(): DatasetTable {
  return {
    rowCount: fixture.rows.customer_id.length,
    columns: [
      { name: 'label', type: 'string', values: fixture.rows.label.map(String) },
      { name: 'event_time', type: 'timestamp', values: fixture.rows.event_time },
      { name: 'customer_id', type: 'string', values: fixture.rows.customer_id },
    ],
  };
}

/**
 * Rows [from, to) of the fixture's feature rows (in arrival order) as a dataset version of the table: its columns
 * and `created`, the creation time a join may break ties of feature times with.
 */
export function customerTableRows(from: number, to: number = fixture.features.customer_id.length): DatasetTable {
  const { features } = fixture;
  return {
    rowCount: to - from,
    columns: [
      { name: 'balance', type: 'number', values: features.balance.slice(from, to) },
      { name: 'segment', type: 'string', values: features.segment.slice(from, to) },
      { name: 'balance_next', type: 'number', values: features.balance.slice(from, to) },
      { name: 'feature_time', type: 'timestamp', values: features.feature_time.slice(from, to) },
      { name: 'customer_id', type: 'string', values: features.customer_id.slice(from, to) },
      { name: 'created', type: 'timestamp', values: features.created.slice(from, to) },
    ],
  };
}

/** {@link churnSpec}'s join (with created time `created`) as the feature set task takes it. */
export const churnJoin: PointInTimeJoin = {
  entityKey: 'customer_id',
  rowTime: 'event_time',
  featureTime: 'feature_time',
  createdTime: 'created',
  features: ['balance', 'segment'],
  maxAgeMs: fixture.maxAgeMs,
};

/** A dataset version of these bytes as a snapshot names it (id and uri from the content). */
export function incrementOf(bytes: Uint8Array, sequence: number): SnapshotIncrement {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    datasetVersionId: `ds-${sha256.slice(0, 32)}`,
    sha256,
    uri: `s3://keel-datasets/${sha256}`,
    sequence,
    rowCount: 0,
  };
}
