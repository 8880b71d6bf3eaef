import { Controller, Get, Param } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { CheckpointRepository } from '../stream/checkpoint.repository';
import { PredictionStreamConsumer } from '../stream/prediction-stream.consumer';

@Controller('api/v1/pipelines')
export class PredictionsController {
  constructor(
    private readonly checkpoints: CheckpointRepository,
    private readonly stream: PredictionStreamConsumer,
  ) {}

  /**
   * `GET /api/v1/pipelines/:id/predictions/count`: predictions logged for the pipeline, all model versions, as of the
   * latest checkpoints (durably logged; at most one checkpoint interval behind the stream).
   */
  @Get(':id/predictions/count')
  async count(@Param('id') id: string): Promise<{ pipelineId: string; count: number }> {
    const pipelineId = parsePipelineIdParam(id);
    return { pipelineId, count: await this.checkpoints.rowsLogged(this.stream.group, pipelineId) };
  }
}
