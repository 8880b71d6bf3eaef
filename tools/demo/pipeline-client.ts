/**
 * What an ML engineer does with Keel, as code: apply a pipeline spec, read the records an upstream system publishes
 * (with @keel/testing's publishUpstreamRecords), wait for a champion model and for serving to load it (ModelInfer goes
 * through @keel/testing's InferenceClient). Used by `npm start` and the end-to-end tests.
 */
import { type PipelineSpecV1, type Scalar, WellKnownAlias } from '@keel/contracts';
import { type InferenceClient, SERVING_GRPC_ADDRESS } from '@keel/testing';
import { readSimpleCsv } from './csv';

export const endpoints = {
  registryHttp: 'http://127.0.0.1:3005',
  ingestionHttp: 'http://127.0.0.1:3001',
  validationHttp: 'http://127.0.0.1:3002',
  monitoringHttp: 'http://127.0.0.1:3007',
  servingGrpc: SERVING_GRPC_ADDRESS,
} as const;

/** Typed records from a bundled CSV, shaped as the pipeline's upstream would send them. */
export function recordsFromCsv(
  path: string,
  spec: PipelineSpecV1,
  keep: (row: Record<string, string>) => boolean = () => true,
): Record<string, Scalar>[] {
  const { header, rows } = readSimpleCsv(path);
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  if (spec.task === 'regression') numeric.add(spec.target.column);
  return rows
    .map((fields) => Object.fromEntries(header.map((name, i) => [name, fields[i]])))
    .filter(keep)
    .map((row) => {
      const record: Record<string, Scalar> = {};
      for (const [name, value] of Object.entries(row)) {
        record[name] = value === '' ? null : numeric.has(name) ? Number(value) : value;
      }
      return record;
    });
}

/** Applies a spec through the registry's HTTP API; returns the applied version. */
export async function applySpec(yamlText: string, pipelineId: string): Promise<{ version: number }> {
  const put = () =>
    fetch(`${endpoints.registryHttp}/api/v1/pipelines/${pipelineId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml' },
      body: yamlText,
    });
  // A pooled keep-alive connection the server closed while this process was busy (parsing a large CSV keeps the
  // event loop from noticing) fails without reaching the server; the PUT is idempotent, so it is sent once more.
  const response = await put().catch((error: unknown) => {
    if ((error as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET') return put();
    throw error;
  });
  if (!response.ok) throw new Error(`applying ${pipelineId}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as { version: number };
}

export interface ModelVersionView {
  modelName: string;
  version: number;
  packageUri: string;
  packageSha256: string;
  algorithm: string;
  metrics: Record<string, number>;
  lineage: Record<string, unknown>;
}

/** Polls the registry until the model has a champion (optionally newer than `after`). */
export async function waitForChampion(modelName: string, timeoutMs: number, after = 0): Promise<ModelVersionView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(
      `${endpoints.registryHttp}/api/v1/models/${modelName}/aliases/${WellKnownAlias.CHAMPION}`,
    ).catch(() => undefined);
    if (response?.ok) {
      const body = (await response.json()) as ModelVersionView;
      if (body.version > after) return body;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new Error(`no champion for ${modelName} after ${timeoutMs / 1000} s`);
}

/** Polls ModelReady until serving has loaded a version of the model (optionally a given one). */
export async function waitForServing(
  client: InferenceClient,
  modelName: string,
  timeoutMs: number,
  version?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await client
      .modelReady({ name: modelName, version: version === undefined ? '' : String(version) })
      .catch(() => ({ ready: false }));
    if (ready.ready) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`serving has not loaded ${modelName}${version ? ` v${version}` : ''} after ${timeoutMs / 1000} s`);
}
