import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  datasetSchema,
  featureTimeMoveIssues,
  isFeatureTable,
  joinTableIssues,
  type PipelineSpec,
  type PipelineSpecV1,
  withJoinFeatureTimes,
} from '@keel/contracts';
import { InvalidPipelineSpecError, type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { WorkerPool } from '@keel/workers';
import { parsePipelineSpecTask } from './spec-parse.task';
import { checkedSpecDocument } from './spec-names';

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
export class PipelinesService implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly workers: WorkerPool,
  ) {}

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(parsePipelineSpecTask);
  }

  /**
   * Validates a spec (YAML/JSON text or a parsed object) and applies it; unchanged specs keep their version.
   * Throws InvalidPipelineSpecError or PipelineIdMismatchError on bad input. Text is parsed on a worker thread; a
   * parsed JSON body (already bounded by HTTP_MAX_JSON_BYTES and JSON_MAX_DEPTH) is validated here, its value count
   * checked first.
   */
  apply(pathId: string, body: unknown): Promise<AppliedPipeline> {
    return withSpan(
      'apply pipeline spec',
      { [KeelAttr.PIPELINE_ID]: pathId },
      async (span) => {
        const parsed: PipelineSpec = await this.parse(body);
        if (parsed.id !== pathId) throw new PipelineIdMismatchError(pathId, parsed.id);
        await this.checkKindKept(parsed);
        // A feature table joins nothing: only a model pipeline's joins are checked (and their feature times recorded).
        const spec = isFeatureTable(parsed) ? parsed : await this.checkJoinedTables(parsed);
        await this.checkJoiningPipelines(spec);
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

  private async parse(body: unknown): Promise<PipelineSpec> {
    if (typeof body !== 'string') return checkedSpecDocument(body);
    const outcome = await this.workers.run(parsePipelineSpecTask, body);
    if (!outcome.ok) throw new InvalidPipelineSpecError(outcome.issues);
    return outcome.spec;
  }

  /**
   * A pipeline keeps its kind: a model pipeline's models, aliases, rollouts and monitoring would be left behind by a
   * table of the same id, and a table's joining pipelines would find a model pipeline's dataset. A new kind takes a
   * new id.
   */
  private async checkKindKept(spec: PipelineSpec): Promise<void> {
    const current = (await this.get(spec.id))?.spec;
    if (current && current.kind !== spec.kind) {
      throw new InvalidPipelineSpecError([
        `kind: pipeline "${spec.id}" is a ${current.kind}; a ${spec.kind} of the same id is refused (apply it under a new id)`,
      ]);
    }
  }

  /**
   * A spec's point-in-time joins name applied pipelines whose datasets have the key, the feature time and each feature
   * with its declared type. Checked against the tables' current specs when this spec is applied; returns the spec to
   * store, each join's feature time recorded (withJoinFeatureTimes: the join's hash covers it).
   */
  private async checkJoinedTables(parsed: PipelineSpecV1): Promise<PipelineSpecV1> {
    const issues: string[] = [];
    const tables = new Map<string, PipelineSpec>();
    for (const { pipeline } of parsed.joins ?? []) {
      const table = (await this.get(pipeline))?.spec;
      if (table) tables.set(pipeline, table);
    }
    const spec = withJoinFeatureTimes(parsed, (pipeline) => tables.get(pipeline)?.timeColumn);
    for (const [index, join] of (spec.joins ?? []).entries()) {
      const table = tables.get(join.pipeline);
      const found = table
        ? { schema: datasetSchema(table), timeColumn: table.timeColumn, entityColumns: table.entityColumns }
        : undefined;
      for (const issue of joinTableIssues(spec, join, index, found)) {
        issues.push(`${issue.path.map(String).join('.')}: ${issue.message}`);
      }
    }
    if (issues.length > 0) throw new InvalidPipelineSpecError(issues);
    return spec;
  }

  /**
   * A spec that other pipelines join as a table still serves their joins (key in entityColumns, feature time, each
   * joined feature with its type): re-applying it without one would break them at their next feature set. Nor may
   * it move the timeColumn a join reads as its feature time (featureTimeMoveIssues, which then says it alone).
   */
  private async checkJoiningPipelines(table: PipelineSpec): Promise<void> {
    const issues: string[] = [];
    const found = { schema: datasetSchema(table), timeColumn: table.timeColumn, entityColumns: table.entityColumns };
    const timeColumns = { before: (await this.get(table.id))?.spec.timeColumn, after: table.timeColumn };
    for (const { spec } of await this.list()) {
      if (spec.id === table.id || isFeatureTable(spec)) continue;
      for (const [index, join] of (spec.joins ?? []).entries()) {
        if (join.pipeline !== table.id) continue;
        const moved = featureTimeMoveIssues(join, index, timeColumns);
        const broken = joinTableIssues(spec, join, index, found).filter(
          (issue) => moved.length === 0 || issue.path[2] !== 'featureTime',
        );
        for (const issue of [...broken, ...moved]) {
          issues.push(`pipeline "${spec.id}" joins this one: ${issue.path.map(String).join('.')}: ${issue.message}`);
        }
      }
    }
    if (issues.length > 0) throw new InvalidPipelineSpecError(issues);
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
