import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  DataRecordsV1,
  DatasetIngestedV1,
  datasetSchema,
  DatasetValidatedV1,
  derivedId,
  encodeCloudEventHeaders,
  type EventData,
  type FeatureTableSpecInput,
  type FeatureTableSpecV1,
  isFeatureTable,
  type PipelineSpecInput,
  type PipelineSpecV1,
  type Scalar,
} from '@keel/contracts';
import { type DatasetTable, tableFromRecords } from '@keel/datasets';
import { parsePipelineSpec, parseSpecDocument } from '@keel/pipelines';
import { BUCKETS, type StoredObject } from '@keel/storage';
import { injectTraceContext } from '@keel/telemetry';
import { type Producer } from 'kafkajs';
import { uniqueName } from './local-stack';

/** The repository root, where `fixtures/` lives. */
export const repoRoot = resolve(__dirname, '../../..');

/** The bundled datasets under `fixtures/datasets/` (see its README). */
export const FIXTURE_DATASETS = {
  adult: 'fixtures/datasets/adult/adult.csv',
  bike: 'fixtures/datasets/bike_sharing/bike_sharing_hourly.csv',
} as const;

export type FixtureDataset = keyof typeof FIXTURE_DATASETS;

/** The bundled pipeline specs under `fixtures/pipelines/`. */
export type FixturePipeline = 'adult-income' | 'bike-demand';

/** The bundled feature table under `fixtures/pipelines/` (`kind: FeatureTable`). */
export type FixtureFeatureTable = 'customer-features';

/** A fixture CSV split into its header and rows of cells (the bundled files have no quoted fields). */
export interface FixtureCsv {
  readonly header: readonly string[];
  readonly lines: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

const csvCache = new Map<FixtureDataset, FixtureCsv>();

/** A bundled dataset's CSV, read once per test file. */
export function fixtureCsv(dataset: FixtureDataset): FixtureCsv {
  let csv = csvCache.get(dataset);
  if (!csv) {
    const [headerLine, ...lines] = readFileSync(resolve(repoRoot, FIXTURE_DATASETS[dataset]), 'utf8')
      .trimEnd()
      .split('\n');
    csv = { header: headerLine.split(','), lines, rows: lines.map((line) => line.split(',')) };
    csvCache.set(dataset, csv);
  }
  return csv;
}

/** Which rows of a fixture: `count` rows from the 0-based data row `from`. */
export interface FixtureRows {
  count: number;
  from?: number;
}

/**
 * Rows of a bundled dataset as flat records, every CSV column included, an empty cell as null. Cells stay text
 * (as an upstream export sends them, and ingestion converts) unless `numeric` names the columns to read as numbers:
 * a spec's numeric features, or a list.
 */
export function fixtureRecords(
  dataset: FixtureDataset,
  { count, from = 0, numeric }: FixtureRows & { numeric?: PipelineSpecV1 | readonly string[] },
): Record<string, Scalar>[] {
  const { header, rows } = fixtureCsv(dataset);
  const numbers = new Set(
    numeric === undefined
      ? []
      : 'features' in numeric
        ? numeric.features.filter((feature) => feature.type === 'numeric').map((feature) => feature.name)
        : numeric,
  );
  return rows.slice(from, from + count).map((cells) => {
    const record: Record<string, Scalar> = {};
    header.forEach((name, i) => {
      const cell = cells[i] ?? '';
      record[name] = cell === '' ? null : numbers.has(name) ? Number(cell) : cell;
    });
    return record;
  });
}

/**
 * Rows of a bundled dataset as the table of a dataset version, the way ingestion writes it for `spec`: the columns and
 * types of `datasetSchema(spec)` minus `drop`.
 */
export function fixtureTable(
  dataset: FixtureDataset,
  spec: PipelineSpecV1,
  rows: FixtureRows & { drop?: readonly string[] },
): DatasetTable {
  const schema = datasetSchema(spec)
    .filter(({ name }) => !rows.drop?.includes(name))
    .map(({ name, type }) => ({ name, type }));
  const numeric = schema.filter(({ type }) => type === 'number').map(({ name }) => name);
  return tableFromRecords(fixtureRecords(dataset, { ...rows, numeric }), schema);
}

/** Rows of a bundled dataset as CSV text with its header line, as a file upload sends it. */
export function fixtureCsvText(dataset: FixtureDataset, { count, from = 0 }: FixtureRows): string {
  const { header, lines } = fixtureCsv(dataset);
  return [header.join(','), ...lines.slice(from, from + count)].join('\n') + '\n';
}

/** The `dataset.ingested` data ingestion announces for a table it stored (content-addressed) as a version. */
export function datasetIngestedData(
  pipelineId: string,
  stored: StoredObject,
  table: DatasetTable,
  sources: string[] = ['test'],
): EventData<typeof DatasetIngestedV1> {
  return DatasetIngestedV1.schema.parse({
    pipelineId,
    datasetVersionId: derivedId('ds', [pipelineId, stored.sha256]),
    uri: stored.uri,
    sha256: stored.sha256,
    sizeBytes: stored.sizeBytes,
    format: 'parquet',
    rowCount: table.rowCount,
    columns: table.columns.map(({ name, type }) => ({ name, type })),
    sources,
  });
}

/** The `dataset.validated` data validation announces for a stored version that passed without findings. */
export function datasetValidatedData(pipelineId: string, stored: StoredObject): EventData<typeof DatasetValidatedV1> {
  return DatasetValidatedV1.schema.parse({
    pipelineId,
    datasetVersionId: derivedId('ds', [pipelineId, stored.sha256]),
    datasetUri: stored.uri,
    datasetSha256: stored.sha256,
    reportUri: `s3://${BUCKETS.reports}/${pipelineId}/report.json`,
    warnings: [],
  });
}

/** A pipeline id no other run uses (a lowercase slug, as specs require). */
export function uniquePipelineId(prefix: string): string {
  return uniqueName(prefix);
}

/** A bundled pipeline spec's YAML with its id replaced, as an ML engineer would PUT it. */
export function pipelineSpecYaml(fixture: FixturePipeline | FixtureFeatureTable, id: string): string {
  const yaml = readFileSync(resolve(repoRoot, 'fixtures/pipelines', `${fixture}.yaml`), 'utf8');
  return yaml.replace(/^id: .*$/m, `id: ${id}`);
}

/**
 * A bundled pipeline spec, parsed and checked like an applied one, with its id replaced and top-level sections
 * overridden (for instance `ingestion` or `monitoring` thresholds a test needs).
 */
export function pipelineSpecFixture(
  fixture: FixturePipeline,
  { id, ...overrides }: { id: string } & Partial<Omit<PipelineSpecV1, 'id'>>,
): PipelineSpecV1 {
  return parsePipelineSpec({ ...parsePipelineSpec(pipelineSpecYaml(fixture, id)), ...overrides });
}

/**
 * Publishes records to `mlops.data.records.v1` the way an upstream system does (README, "Publishing records as an
 * upstream system"): record key the pipeline id, JSON value, binary-mode CloudEvents headers with a fresh `ce_id`
 * per batch, `ce_source` `/upstream/<source>`, and the caller's trace context. Returns each batch's event id.
 */
export async function publishUpstreamRecords(
  producer: Producer,
  pipelineId: string,
  records: readonly Record<string, Scalar>[],
  { source = 'int-test', batchSize = 1_000 }: { source?: string; batchSize?: number } = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < records.length; start += batchSize) {
    const id = randomUUID();
    const headers = encodeCloudEventHeaders({
      id,
      source: `/upstream/${source}`,
      type: DataRecordsV1.topic,
      specversion: '1.0',
      time: new Date().toISOString(),
    });
    injectTraceContext(headers);
    const data = { pipelineId, source, records: records.slice(start, start + batchSize) };
    await producer.send({
      topic: DataRecordsV1.topic,
      messages: [{ key: pipelineId, value: JSON.stringify(data), headers }],
    });
    ids.push(id);
  }
  return ids;
}

/**
 * The bundled feature table (`fixtures/pipelines/customer-features.yaml`: customers' `balance` (numeric) and `segment`
 * (categorical) since `feature_time`, keyed by `customer_id`), parsed as an applied spec, with its id replaced and
 * top-level sections overridden (written as in a spec document).
 */
export function featureTableFixture({
  id,
  ...overrides
}: { id: string } & Partial<Omit<FeatureTableSpecInput, 'id' | 'kind'>>): FeatureTableSpecV1 {
  const spec = parseSpecDocument({ ...parseSpecDocument(pipelineSpecYaml('customer-features', id)), ...overrides });
  if (!isFeatureTable(spec)) throw new Error('customer-features.yaml is a feature table');
  return spec;
}

/**
 * A model pipeline joining a feature table point-in-time: whether a customer churned (binary, `churned` = `yes`) from
 * rows of `customer_id`, `event_time` and its own `tenure`, with the table's features it names in `joined` (all of
 * them by default) taken by customer key and declared with the table's types; none joined: no `joins` at all. Parsed
 * as an applied spec, top-level sections overridden (written as in a spec document).
 */
export function joiningPipelineFixture({
  id,
  table,
  joined = table.features.map((feature) => feature.name),
  ...overrides
}: { id: string; table: FeatureTableSpecV1; joined?: readonly string[] } & Partial<
  Omit<PipelineSpecInput, 'id' | 'kind'>
>): PipelineSpecV1 {
  const features = table.features
    .filter((feature) => joined.includes(feature.name))
    .map(({ name, type }) => ({ name, type }));
  return parsePipelineSpec({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'binary-classification',
    target: { column: 'churned', positive: 'yes' },
    timeColumn: 'event_time',
    entityColumns: ['customer_id'],
    features: [{ name: 'tenure', type: 'numeric', nullable: false }, ...features],
    ...(features.length > 0
      ? { joins: [{ pipeline: table.id, entityKey: 'customer_id', features: features.map(({ name }) => name) }] }
      : {}),
    validation: { minRows: 50 },
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
    ...overrides,
  });
}
