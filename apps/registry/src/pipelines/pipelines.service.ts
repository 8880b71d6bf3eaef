import { Injectable } from '@nestjs/common';
import { type PipelineSpecV1 } from '@keel/contracts';
import { parsePipelineSpec, type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { trace } from '@opentelemetry/api';

/** The path and the document disagree about which pipeline this is. */
export class PipelineIdMismatchError extends Error {
  constructor(
    readonly pathId: string,
    readonly bodyId: string,
  ) {
    super(`the spec's id "${bodyId}" differs from the path's "${pathId}"`);
    this.name = 'PipelineIdMismatchError';
  }
}

export interface AppliedPipeline {
  pipelineId: string;
  version: number;
  created: boolean;
}

const tracer = trace.getTracer('keel-registry');

/** Pipeline specs: the only writer of the pipeline store (every other service reads it). */
@Injectable()
export class PipelinesService {
  constructor(private readonly infra: Infrastructure) {}

  /**
   * Validates a spec (YAML/JSON text or a parsed object) and applies it; unchanged specs keep their version.
   * Throws InvalidPipelineSpecError or PipelineIdMismatchError on bad input.
   */
  async apply(pathId: string, body: unknown): Promise<AppliedPipeline> {
    return tracer.startActiveSpan('apply pipeline spec', async (span) => {
      try {
        span.setAttribute('keel.pipeline_id', pathId);
        const spec: PipelineSpecV1 = parsePipelineSpec(body);
        if (spec.id !== pathId) throw new PipelineIdMismatchError(pathId, spec.id);
        const { stored, created } = await this.infra.pipelines.apply(spec);
        span.setAttributes({ 'keel.pipeline_version': stored.version, 'keel.created': created });
        return { pipelineId: stored.pipelineId, version: stored.version, created };
      } finally {
        span.end();
      }
    });
  }

  /** The current version of a spec, or undefined when nobody applied it. */
  async get(pipelineId: string): Promise<StoredPipelineSpec | undefined> {
    try {
      return await this.infra.pipelines.get(pipelineId);
    } catch (error) {
      if (error instanceof UnknownPipelineError) return undefined;
      throw error;
    }
  }

  list(): Promise<StoredPipelineSpec[]> {
    return this.infra.pipelines.list();
  }
}
