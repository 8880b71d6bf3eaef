import { writeFileSync } from 'node:fs';
import { type PipelineSpecV1 } from '@keel/contracts';
import { ModelInferRequest } from '@keel/grpc-api';
import { columnTensors, fixtureCsv, fixtureRecords } from '@keel/testing';

/** The first data row of the Adult fixture's test split: requests carry rows the model did not train on. */
export function adultTestFrom(): number {
  return fixtureCsv('adult').rows.findIndex((row) => row[row.length - 1] === 'test');
}

/** Requests of `rows` rows that together carry `distinctRows` different rows (at least one request). */
export function requestCount(rows: number, distinctRows: number): number {
  return Math.max(1, Math.floor(distinctRows / rows));
}

/**
 * The messages as ghz's binary data: one message as it is, several count-delimited (a varint length before each),
 * which ghz sends in turn, request i getting message i modulo their number.
 */
function writeMessages(path: string, messages: Uint8Array[]): string {
  if (messages.length === 1) {
    writeFileSync(path, messages[0]);
    return path;
  }
  const parts: Uint8Array[] = [];
  for (const message of messages) {
    const prefix: number[] = [];
    for (let length = message.length; ; length >>>= 7) {
      if (length < 0x80) {
        prefix.push(length);
        break;
      }
      prefix.push((length & 0x7f) | 0x80);
    }
    parts.push(Uint8Array.from(prefix), message);
  }
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/**
 * Writes ModelInferRequests (protobuf binary, what `runGhz` sends) of `rows` Adult test rows each for `modelName`, as
 * Keel's clients send them: one typed tensor per column (FP64 numbers, BYTES categories). With `distinctRows` above
 * `rows`, several requests over consecutive test rows, so the load carries that many different rows (as traffic
 * does: one row repeated makes every monitoring window drift). Returns the path.
 */
export function writeAdultRequestFile(
  path: string,
  spec: PipelineSpecV1,
  modelName: string,
  rows: number,
  distinctRows = rows,
): string {
  const from = adultTestFrom();
  const messages = Array.from({ length: requestCount(rows, distinctRows) }, (_, i) => {
    const records = fixtureRecords('adult', { count: rows, from: from + i * rows, numeric: spec });
    return ModelInferRequest.encode(
      ModelInferRequest.fromPartial({ modelName, inputs: columnTensors(spec, records) }),
    ).finish();
  });
  return writeMessages(path, messages);
}

/**
 * The same requests for MLServer: one FP64 [rows, features] tensor each, over `matrix` (the Adult test rows as its
 * LightGBM model reads them), request i taking rows [i * rows, (i + 1) * rows).
 */
export function writeMatrixRequestFile(
  path: string,
  modelName: string,
  matrix: readonly number[][],
  rows: number,
  distinctRows = rows,
): string {
  const count = requestCount(rows, distinctRows);
  if (matrix.length < count * rows) throw new Error(`${count} requests of ${rows} rows need ${count * rows} rows`);
  const messages = Array.from({ length: count }, (_, i) =>
    ModelInferRequest.encode(
      ModelInferRequest.fromPartial({
        modelName,
        inputs: [
          {
            name: 'input-0',
            datatype: 'FP64',
            shape: [rows, matrix[0].length],
            contents: { fp64Contents: matrix.slice(i * rows, (i + 1) * rows).flat() },
          },
        ],
      }),
    ).finish(),
  );
  return writeMessages(path, messages);
}
