import { Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { UnknownPipelineError } from '@keel/pipelines';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { CutService } from './cut.service';

/** Manual control of staging. */
@Controller('api/v1/pipelines/:id')
export class StagingController {
  constructor(private readonly cuts: CutService) {}

  /** Cuts the pipeline's staged records into a dataset version now; `dataset` is null when nothing was staged. */
  @Post('flush')
  @HttpCode(200)
  async flush(@Param('id') pipelineId: string): Promise<{ dataset: DatasetVersion | null }> {
    try {
      return { dataset: await this.cuts.cut(pipelineId) };
    } catch (error) {
      if (error instanceof UnknownPipelineError) throw new NotFoundException(error.message);
      throw error;
    }
  }
}
