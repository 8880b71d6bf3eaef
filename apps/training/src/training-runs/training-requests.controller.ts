import { randomUUID } from 'node:crypto';
import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { type EventData, TrainingRequestedV2 } from '@keel/contracts';
import { NotAModelPipelineError, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { type TrainingRequestRecord, TrainingRunsRepository } from './training-runs.repository';
import { TrainingRunsService } from './training-runs.service';

type TrainingRequested = EventData<typeof TrainingRequestedV2>;

/** More fields than a training request has (its schema's few, with room for additions): refused before validation. */
const MAX_REQUEST_FIELDS = 32;

/** How many `supersededBy` links GET follows: each is a spec re-applied while a feature set was being built. */
const MAX_SUPERSEDED_HOPS = 16;

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
    let current: number;
    try {
      current = (await this.infra.pipelines.getModelPipeline(request.pipelineId)).version;
    } catch (error) {
      if (error instanceof UnknownPipelineError) {
        throw new NotFoundException({ message: `pipeline "${request.pipelineId}" was never applied` });
      }
      // Refused here rather than dead-lettered later: a feature table has nothing to train.
      if (error instanceof NotAModelPipelineError) throw new BadRequestException({ message: error.message });
      throw error;
    }
    // A version never applied would hold the request at features, retrying, for ever.
    if (request.specVersion !== undefined && request.specVersion > current) {
      throw new BadRequestException({
        message: `specVersion ${request.specVersion}: pipeline "${request.pipelineId}" is at version ${current}`,
      });
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
    // A superseded request is answered by the one that replaced it (each hop one _id read; a bounded chain, since
    // each hop is a spec re-applied while its feature set was built).
    const answer = await this.answerOf(found);
    const run = answer.runId ? await this.repository.findRun(answer.runId) : null;
    return {
      ...found,
      ...(answer === found
        ? {}
        : {
            status: answer.status,
            answeredBy: answer.requestId,
            ...(answer.runId ? { runId: answer.runId, packageSha256: answer.packageSha256 } : {}),
            ...(answer.snapshotId ? { snapshotId: answer.snapshotId } : {}),
            ...(answer.trainedAt ? { trainedAt: answer.trainedAt } : {}),
          }),
      ...(run ? { snapshot: run.snapshot, algorithm: run.chosen, packageUri: run.packageUri } : {}),
    };
  }

  /** The request at the end of `supersededBy` links (at most MAX_SUPERSEDED_HOPS), or the last one found. */
  private async answerOf(request: TrainingRequestRecord): Promise<TrainingRequestRecord> {
    let answer = request;
    for (let hop = 0; hop < MAX_SUPERSEDED_HOPS && answer.status === 'superseded' && answer.supersededBy; hop++) {
      const next = await this.repository.findRequest(answer.pipelineId, answer.supersededBy);
      if (!next) break;
      answer = next;
    }
    return answer;
  }
}
