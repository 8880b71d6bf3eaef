import { Controller, Get, Param } from '@nestjs/common';
import { type DatasetVersion, DatasetsRepository } from './datasets.repository';

/** Read side of dataset versions. */
@Controller('api/v1/pipelines/:id/datasets')
export class DatasetsController {
  constructor(private readonly datasets: DatasetsRepository) {}

  /** Versions of a pipeline, newest first. */
  @Get()
  async list(@Param('id') pipelineId: string): Promise<{ items: DatasetVersion[] }> {
    return { items: await this.datasets.list(pipelineId) };
  }
}
