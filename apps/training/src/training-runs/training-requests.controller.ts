import { randomUUID } from 'node:crypto';
import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { type EventData, TrainingRequestedV2 } from '@keel/contracts';
import { NotAModelPipelineError, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { TrainingRunsRepository } from './training-runs.repository';
import { TrainingRunsService } from './training-runs.service';

type TrainingRequested = EventData<typeof TrainingRequestedV2>;

/** More fields than a training request has (its schema's few, with room for additions): refused before validation. */
const MAX_REQUEST_FIELDS = 32;

/**
 * Training requests over HTTP: `POST` asks for a run on the pipeline's training window as it stands now (reason
 * `manual` unless given; send your own `requestId` to make retries safe), `GET` reads what came of it.
 */
@Controller('api/v1/pipelines/:id/training-requests')
export class TrainingRequestsController {
  constructor(
    private readonly infra: Infrastructure,
    private readonly service: TrainingRunsService,
    private readonly repository: TrainingRunsRepository,
  ) {}

  @Post()
  @HttpCode(202)
  async create(@Param('id') pipelineId: string, @Body() body: unknown) {
    // Checked before the body is spread into the request: a 1 MiB JSON array spread into an object (one key per item)
    // and validated held training's event loop ~300 ms (npm run fuzz:live).
    if (Array.isArray(body)) throw new BadRequestException({ message: 'the body must be a JSON object' });
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const count = Object.keys(fields).length;
    if (count > MAX_REQUEST_FIELDS) {
      throw new BadRequestException({
        message: `the body has ${count} fields; a training request has at most ${MAX_REQUEST_FIELDS}`,
      });
    }
    const parsed = TrainingRequestedV2.schema.safeParse({
      reason: 'manual',
      requestedBy: 'http',
      requestId: randomUUID(),
      ...fields,
      pipelineId,
    });
    if (!parsed.success) {
      throw new BadRequestException({
        message: 'invalid training request',
        issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`),
      });
    }
    const request: TrainingRequested = parsed.data;
    try {
      await this.infra.pipelines.getModelPipeline(request.pipelineId);
    } catch (error) {
      if (error instanceof UnknownPipelineError) {
        throw new NotFoundException({ message: `pipeline "${request.pipelineId}" was never applied` });
      }
      // Refused here rather than dead-lettered later: a feature table has nothing to train.
      if (error instanceof NotAModelPipelineError) throw new BadRequestException({ message: error.message });
      throw error;
    }
    await this.service.request(request);
    return {
      pipelineId: request.pipelineId,
      requestId: request.requestId,
      reason: request.reason,
      status: `/api/v1/pipelines/${request.pipelineId}/training-requests/${encodeURIComponent(request.requestId)}`,
    };
  }

  @Get(':requestId')
  async get(@Param('id') pipelineId: string, @Param('requestId') requestId: string) {
    const found = await this.repository.findRequest(pipelineId, requestId);
    if (!found) throw new NotFoundException({ message: `no training request "${requestId}" for "${pipelineId}"` });
    const run = found.runId ? await this.repository.findRun(found.runId) : null;
    return { ...found, ...(run ? { snapshot: run.snapshot, algorithm: run.chosen, packageUri: run.packageUri } : {}) };
  }
}
