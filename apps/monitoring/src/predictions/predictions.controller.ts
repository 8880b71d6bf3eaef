import { Controller, Get, Param } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { PredictionsService } from './predictions.service';

@Controller('api/v1/pipelines')
export class PredictionsController {
  constructor(private readonly predictions: PredictionsService) {}

  /** `GET /api/v1/pipelines/:id/predictions/count`: predictions logged for the pipeline, all model versions. */
  @Get(':id/predictions/count')
  async count(@Param('id') id: string): Promise<{ pipelineId: string; count: number }> {
    const pipelineId = parsePipelineIdParam(id);
    return { pipelineId, count: await this.predictions.countFor(pipelineId) };
  }
}
