import { type DatasetTable, readParquet, SPLIT_COLUMN, takeRows, transformInputs } from '@keel/datasets';
import { type RawValue } from '@keel/ml-models';
import { type ModelPackage } from '@keel/model-package';
import { asBuffer } from '@keel/workers';

/** A feature set read for evaluation, with a column lookup. */
export async function readFeatureSet(
  bytes: Uint8Array,
): Promise<{ table: DatasetTable; column: (name: string) => DatasetTable['columns'][number]['values'] | undefined }> {
  const table = await readParquet(asBuffer(bytes));
  return { table, column: (name) => table.columns.find((c) => c.name === name)?.values };
}

/** Indices of the holdout rows (with a label, as training evaluates them). */
export function holdoutIndices(table: DatasetTable, target: string): number[] {
  const splits = table.columns.find((c) => c.name === SPLIT_COLUMN)?.values;
  if (!splits) throw new Error('the feature set has no split column');
  const labels = table.columns.find((c) => c.name === target)?.values;
  if (!labels) throw new Error(`the feature set lacks the target "${target}"`);
  const out: number[] = [];
  splits.forEach((split, i) => {
    if (split === 'holdout' && labels[i] !== null) out.push(i);
  });
  return out;
}

/** The package's input columns of some rows, as serving receives them. */
export function packageInputs(pkg: ModelPackage, rows: DatasetTable): Record<string, RawValue[]> {
  const out: Record<string, RawValue[]> = {};
  for (const input of pkg.signature.inputs) {
    const values = rows.columns.find((c) => c.name === input.name)?.values;
    if (!values) throw new Error(`the evaluation rows lack column "${input.name}"`);
    out[input.name] = transformInputs(values);
  }
  return out;
}

export { takeRows };
