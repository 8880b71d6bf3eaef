import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PipelineSpecV1, type Scalar } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { context } from '@opentelemetry/api';
import { type Producer } from 'kafkajs';
import { repoRoot } from '../stack/paths';
import { type ModelInferResponse } from '@keel/grpc-api';
import { columnTensors, InferenceClient, publishUpstreamRecords } from '@keel/testing';
import {
  applySpec,
  endpoints,
  type ModelVersionView,
  recordsFromCsv,
  waitForChampion,
  waitForServing,
} from './pipeline-client';

/** A bundled pipeline: its spec file, its data file, and which rows an upstream system publishes for training. */
export interface DemoPipeline {
  specFile: string;
  dataFile: string;
  trainingRows: (row: Record<string, string>) => boolean;
  /** Rows kept back for inference requests. */
  servingRows: (row: Record<string, string>) => boolean;
  /** Columns derived from the file's own (a target built from another column), added to every row. */
  derive?: (row: Record<string, Scalar>) => Record<string, Scalar>;
}

/** Adult's `education` grouped into the four classes of fixtures/pipelines/adult-education.yaml. */
export function educationLevel(education: Scalar): string {
  const value = String(education);
  if (value === 'HS-grad') return 'high-school';
  if (['Some-college', 'Assoc-voc', 'Assoc-acdm'].includes(value)) return 'some-college';
  if (['Bachelors', 'Masters', 'Prof-school', 'Doctorate'].includes(value)) return 'degree';
  return 'no-diploma';
}

export const bundledPipelines: Record<'adult' | 'bike' | 'adultEducation', DemoPipeline> = {
  adult: {
    specFile: 'fixtures/pipelines/adult-income.yaml',
    dataFile: 'fixtures/datasets/adult/adult.csv',
    trainingRows: (row) => row.split === 'train',
    servingRows: (row) => row.split === 'test',
  },
  adultEducation: {
    specFile: 'fixtures/pipelines/adult-education.yaml',
    dataFile: 'fixtures/datasets/adult/adult.csv',
    trainingRows: (row) => row.split === 'train',
    servingRows: (row) => row.split === 'test',
    derive: (row) => ({ education_level: educationLevel(row.education) }),
  },
  bike: {
    specFile: 'fixtures/pipelines/bike-demand.yaml',
    dataFile: 'fixtures/datasets/bike_sharing/bike_sharing_hourly.csv',
    // Train on 2011 and the first half of 2012; the rest is what the deployed model then sees.
    trainingRows: (row) => row.dteday < '2012-07-01',
    servingRows: (row) => row.dteday >= '2012-07-01',
  },
};

export interface PipelineRun {
  spec: PipelineSpecV1;
  specYaml: string;
  traceId: string;
  publishedRecords: number;
  publishedEvents: number;
  champion: ModelVersionView;
  servingRows: Record<string, Scalar>[];
  firstPrediction: ModelInferResponse;
}

/** Loads a bundled spec, optionally under another pipeline id (tests use unique ids). */
export function loadSpec(pipeline: DemoPipeline, pipelineId?: string): { spec: PipelineSpecV1; yaml: string } {
  let yaml = readFileSync(join(repoRoot, pipeline.specFile), 'utf8');
  if (pipelineId) yaml = yaml.replace(/^id: .*$/m, `id: ${pipelineId}`);
  return { spec: parsePipelineSpec(yaml), yaml };
}

/**
 * One pipeline run end to end, under one root span so Jaeger shows it as one trace: apply the spec, publish the
 * training rows as data events, wait for the registry's champion and for serving to load it, then call ModelInfer.
 */
export async function runPipeline(
  pipeline: DemoPipeline,
  producer: Producer,
  options: { pipelineId?: string; timeoutMs?: number; log?: (message: string) => void } = {},
): Promise<PipelineRun> {
  const { spec, yaml } = loadSpec(pipeline, options.pipelineId);
  const log = options.log ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 600_000;
  return withSpan(`pipeline run ${spec.id}`, { [KeelAttr.PIPELINE_ID]: spec.id }, async (root) => {
    const traceId = root.spanContext().traceId;
    const dataPath = join(repoRoot, pipeline.dataFile);
    const derive = (row: Record<string, Scalar>) => (pipeline.derive ? { ...row, ...pipeline.derive(row) } : row);
    const training = recordsFromCsv(dataPath, spec, pipeline.trainingRows).map(derive);
    const servingRows = recordsFromCsv(dataPath, spec, pipeline.servingRows).map(derive);
    await applySpec(yaml, spec.id);
    log(`${spec.id}: spec applied; publishing ${training.length} records to mlops.data.records.v1`);
    const published = await publishUpstreamRecords(producer, spec.id, training, { source: 'keel-demo' });
    const champion = await waitForChampion(spec.id, timeoutMs);
    log(`${spec.id}: champion v${champion.version} (${champion.algorithm})`);
    const client = new InferenceClient(endpoints.servingGrpc);
    try {
      await waitForServing(client, spec.id, 120_000, champion.version);
      const firstPrediction = await context.with(context.active(), () =>
        client.modelInfer({
          modelName: spec.id,
          id: `demo-${spec.id}-${Date.now().toString(36)}`,
          inputs: columnTensors(spec, servingRows.slice(0, 5)),
        }),
      );
      return {
        spec,
        specYaml: yaml,
        traceId,
        publishedRecords: training.length,
        publishedEvents: published.length,
        champion,
        servingRows,
        firstPrediction,
      };
    } finally {
      client.close();
    }
  });
}
