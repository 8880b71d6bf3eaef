import { Controller, Get, Param } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { CheckpointRepository } from '../stream/checkpoint.repository';
import { PredictionStreamConsumer } from '../stream/prediction-stream.consumer';
import { type IntakeCounts, type JoinCounts, LabelCountsRepository } from './label-counts.repository';

/** What `GET /api/v1/pipelines/:id/labels` answers. */
export interface LabelsView {
  pipelineId: string;
  intake: IntakeCounts;
  join: JoinCounts;
  /** intake.duplicate + join.duplicate. */
  duplicates: number;
  /** Predictions logged (as of the latest checkpoints), and those without a settled label: labels never sent stay here. */
  predictionsLogged: number;
  awaitingLabels: number;
}

@Controller('api/v1/pipelines')
export class LabelsController {
  constructor(
    private readonly counts: LabelCountsRepository,
    private readonly checkpoints: CheckpointRepository,
    private readonly stream: PredictionStreamConsumer,
  ) {}

  /** `GET /api/v1/pipelines/:id/labels`: labels received and how the join settled them. */
  @Get(':id/labels')
  async view(@Param('id') id: string): Promise<LabelsView> {
    const pipelineId = parsePipelineIdParam(id);
    const [{ intake, join }, predictionsLogged] = await Promise.all([
      this.counts.read(pipelineId),
      this.checkpoints.rowsLogged(this.stream.group, pipelineId),
    ]);
    return {
      pipelineId,
      intake,
      join,
      duplicates: intake.duplicate + join.duplicate,
      predictionsLogged,
      awaitingLabels: Math.max(0, predictionsLogged - join.joined - join.invalid),
    };
  }
}
