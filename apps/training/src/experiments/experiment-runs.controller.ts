import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { NotAModelPipelineError, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { z } from 'zod';
import { compareRuns } from './experiment-runs';
import { ExperimentRunsRepository } from './experiment-runs.repository';

const MetricKey = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a metric name such as auc or rmse');
const RunKind = z.enum(['training', 'candidate', 'trial']);

const ListQuery = z.object({
  kind: RunKind.optional(),
  algorithm: z.string().max(64).optional(),
  parentRunId: z.string().max(128).optional(),
  codeVersion: z.string().max(200).optional(),
  sort: MetricKey.optional(),
  order: z.enum(['asc', 'desc']).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const BestQuery = z.object({
  metric: MetricKey.optional(),
  kind: RunKind.default('candidate'),
  algorithm: z.string().max(64).optional(),
});

const CompareQuery = z.object({
  ids: z
    .string()
    .transform((ids) => ids.split(',').filter((id) => id !== ''))
    .pipe(z.array(z.string().max(128)).min(2).max(50)),
});

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new BadRequestException({
      message: 'invalid query',
      issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`),
    });
  }
  return parsed.data;
}

/**
 * Tracked experiments of a pipeline (MLflow's runs): list with filters and sorting by a metric, the best run by a
 * metric, several runs compared side by side, one run. Training runs, their candidates and every search trial.
 */
@Controller('api/v1/pipelines/:id/runs')
export class ExperimentRunsController {
  constructor(
    private readonly infra: Infrastructure,
    private readonly runs: ExperimentRunsRepository,
  ) {}

  @Get()
  async list(@Param('id') pipelineId: string, @Query() query: unknown) {
    const q = parse(ListQuery, query);
    const runs = await this.runs.list({
      pipelineId,
      kind: q.kind,
      algorithm: q.algorithm,
      parentRunId: q.parentRunId,
      codeVersion: q.codeVersion,
      sortBy: q.sort,
      order: q.order,
      limit: q.limit,
    });
    return { pipelineId, runs };
  }

  /** The best run by a metric (the spec's primary metric by default), among candidates unless `kind` says otherwise. */
  @Get('best')
  async best(@Param('id') pipelineId: string, @Query() query: unknown) {
    const q = parse(BestQuery, query);
    const metric = q.metric ?? (await this.primaryMetric(pipelineId));
    const [run] = await this.runs.list({ pipelineId, kind: q.kind, algorithm: q.algorithm, sortBy: metric, limit: 1 });
    if (!run) throw new NotFoundException({ message: `no ${q.kind} run of "${pipelineId}" has ${metric}` });
    return { pipelineId, metric, run };
  }

  /** `?ids=a,b,c`: params and metrics side by side, in the order asked. */
  @Get('compare')
  async compare(@Param('id') pipelineId: string, @Query() query: unknown) {
    const { ids } = parse(CompareQuery, query);
    const found = await this.runs.findMany(pipelineId, ids);
    const byId = new Map(found.map((run) => [run.runId, run]));
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length > 0) throw new NotFoundException({ message: `no run ${missing.join(', ')} of "${pipelineId}"` });
    return { pipelineId, ...compareRuns(ids.map((id) => byId.get(id)!)) };
  }

  @Get(':runId')
  async get(@Param('id') pipelineId: string, @Param('runId') runId: string) {
    const run = await this.runs.find(pipelineId, runId);
    if (!run) throw new NotFoundException({ message: `no run "${runId}" of "${pipelineId}"` });
    return run;
  }

  private async primaryMetric(pipelineId: string): Promise<string> {
    try {
      return (await this.infra.pipelines.getModelPipeline(pipelineId)).spec.training.primaryMetric;
    } catch (error) {
      if (error instanceof UnknownPipelineError) {
        throw new NotFoundException({ message: `pipeline "${pipelineId}" was never applied` });
      }
      if (error instanceof NotAModelPipelineError) throw new NotFoundException({ message: error.message });
      throw error;
    }
  }
}
