import { writeFileSync } from 'node:fs';
import { type PipelineSpecV1 } from '@keel/contracts';
import { ModelInferRequest } from '@keel/grpc-api';
import { columnTensors, fixtureCsv, fixtureRecords } from '@keel/testing';

/** The first data row of the Adult fixture's test split: requests carry rows the model did not train on. */
export function adultTestFrom(): number {
  return fixtureCsv('adult').rows.findIndex((row) => row[row.length - 1] === 'test');
}

/**
 * Writes a ModelInferRequest (protobuf binary, what `runGhz` sends) of `rows` Adult test rows for `modelName`, as
 * Keel's clients send them: one typed tensor per column (FP64 numbers, BYTES categories). Returns the path.
 */
export function writeAdultRequestFile(path: string, spec: PipelineSpecV1, modelName: string, rows: number): string {
  const inputs = columnTensors(spec, fixtureRecords('adult', { count: rows, from: adultTestFrom(), numeric: spec }));
  writeFileSync(path, ModelInferRequest.encode(ModelInferRequest.fromPartial({ modelName, inputs })).finish());
  return path;
}
