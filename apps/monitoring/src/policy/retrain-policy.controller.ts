import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { isFeatureTable } from '@keel/contracts';
import { UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { NotFoundException } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { RetrainDecisionsRepository } from './retrain-decisions.repository';

/** The retrain policy over HTTP: every decision (fired or suppressed, and why), and where a pipeline's policy stands. */
@Controller('api/v1/pipelines')
export class RetrainPolicyController {
  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: RetrainDecisionsRepository,
  ) {}

  /** `GET /api/v1/pipelines/:id/retrain-decisions?outcome=fired|suppressed&limit=100`: newest first. */
  @Get(':id/retrain-decisions')
  async decisions(@Param('id') id: string, @Query('outcome') outcome?: string, @Query('limit') limit?: string) {
    const pipelineId = parsePipelineIdParam(id);
    if (outcome !== undefined && outcome !== 'fired' && outcome !== 'suppressed') {
      throw new BadRequestException({ message: 'outcome must be fired or suppressed' });
    }
    const count = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(count) || count < 1 || count > 1_000) {
      throw new BadRequestException({ message: 'limit must be an integer from 1 to 1000' });
    }
    return {
      pipelineId,
      decisions: await this.repository.list(pipelineId, { limit: count, ...(outcome ? { outcome } : {}) }),
    };
  }

  /** `GET /api/v1/pipelines/:id/retrain-policy`: the policy in force and its clocks (rows, data time, last retrain). */
  @Get(':id/retrain-policy')
  async policy(@Param('id') id: string) {
    const pipelineId = parsePipelineIdParam(id);
    let spec;
    try {
      ({ spec } = await this.infra.pipelines.get(pipelineId));
    } catch (error) {
      if (error instanceof UnknownPipelineError)
        throw new NotFoundException({ message: `pipeline "${pipelineId}" was never applied` });
      throw error;
    }
    if (isFeatureTable(spec)) {
      throw new NotFoundException({ message: `pipeline "${pipelineId}" is a feature table: it has no retrain policy` });
    }
    const current = await this.repository.states.read(pipelineId);
    const state = current?.state;
    return {
      pipelineId,
      policy: spec.retrainPolicy ?? null,
      clock: state ? { rows: state.rows, dataTime: state.dataTime } : { rows: 0, dataTime: null },
      decisions: state?.decisions ?? 0,
      lastFired: state?.lastFired ?? null,
      day: state?.day ?? null,
    };
  }
}
