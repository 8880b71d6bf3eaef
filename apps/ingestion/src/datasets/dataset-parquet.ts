import { type DatasetTable, writeParquet } from '@keel/datasets';

/**
 * The Parquet bytes of a dataset version, from its table in the pipeline's dataset schema. The one encoding of
 * versions, whether the rows were staged from Kafka or parsed from an upload on a worker thread; the file names its
 * pipeline, for whoever finds it without its document.
 */
export function datasetParquet(spec: { readonly id: string }, table: DatasetTable): Buffer {
  return writeParquet(table, { 'keel.pipeline_id': spec.id });
}
