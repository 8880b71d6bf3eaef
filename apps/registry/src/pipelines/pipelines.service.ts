import { Injectable } from '@nestjs/common';
import { type PipelineSpecV1 } from '@keel/contracts';
import {
  InvalidPipelineSpecError,
  parsePipelineSpec,
  type StoredPipelineSpec,
  UnknownPipelineError,
} from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';

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

/** Pipeline specs: the only writer of the pipeline store (every other service reads it). */
@Injectable()
export class PipelinesService {
  constructor(private readonly infra: Infrastructure) {}

  /**
   * Validates a spec (YAML/JSON text or a parsed object) and applies it; unchanged specs keep their version.
   * Throws InvalidPipelineSpecError or PipelineIdMismatchError on bad input.
   */
  apply(pathId: string, body: unknown): Promise<AppliedPipeline> {
    return withSpan(
      'apply pipeline spec',
      { [KeelAttr.PIPELINE_ID]: pathId },
      async (span) => {
        const spec: PipelineSpecV1 = parsePipelineSpec(body);
        if (spec.id !== pathId) throw new PipelineIdMismatchError(pathId, spec.id);
        const { stored, created } = await this.infra.pipelines.apply(spec);
        span.setAttribute(KeelAttr.PIPELINE_VERSION, stored.version);
        return { pipelineId: stored.pipelineId, version: stored.version, created };
      },
      // A spec refused for its content is the caller's mistake, answered with 400, not a failure of the registry.
      {
        isFailure: (error) => !(error instanceof InvalidPipelineSpecError || error instanceof PipelineIdMismatchError),
      },
    );
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
