import { type ColumnType, datasetColumns, type PipelineSpecV1 } from '@keel/contracts';

/** A column of a dataset version as ingestion writes it. */
export interface SchemaColumn {
  name: string;
  type: ColumnType;
  /** What the column is to the pipeline; decides how values are checked. */
  role: 'numeric' | 'categorical' | 'target' | 'time' | 'attribute';
  nullable: boolean;
}

/**
 * Columns and types of every dataset version of a pipeline, in datasetColumns order: numeric features are numbers,
 * categorical features strings, the time column a timestamp, the target a number (regression) or a string
 * (classification), protected attributes that are not features strings.
 */
export function datasetSchema(spec: PipelineSpecV1): SchemaColumn[] {
  return datasetColumns(spec).map((name): SchemaColumn => {
    const feature = spec.features.find((f) => f.name === name);
    if (feature?.type === 'numeric') return { name, type: 'number', role: 'numeric', nullable: feature.nullable };
    if (feature) return { name, type: 'string', role: 'categorical', nullable: feature.nullable };
    if (name === spec.target.column) {
      return { name, type: spec.task === 'regression' ? 'number' : 'string', role: 'target', nullable: false };
    }
    if (name === spec.timeColumn) return { name, type: 'timestamp', role: 'time', nullable: false };
    return { name, type: 'string', role: 'attribute', nullable: true };
  });
}
