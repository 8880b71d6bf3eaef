import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { DatasetDiffService } from './dataset-diff.service';
import { type DatasetVersion, DatasetsRepository } from './datasets.repository';

/** Read side of dataset versions: the list, and the diff of two versions. */
@Controller('api/v1/pipelines/:id/datasets')
export class DatasetsController {
  constructor(
    private readonly datasets: DatasetsRepository,
    private readonly diffs: DatasetDiffService,
  ) {}

  /** Versions of a pipeline, newest first. */
  @Get()
  async list(@Param('id') pipelineId: string): Promise<{ items: DatasetVersion[] }> {
    return { items: await this.datasets.list(pipelineId) };
  }

  /**
   * `?from=<version>&to=<version>`, each a dataset version id or a sequence number: rows, schema and per-column
   * distribution change from one to the other.
   */
  @Get('diff')
  async diff(@Param('id') pipelineId: string, @Query('from') from?: string, @Query('to') to?: string) {
    const missing = [from ? undefined : 'from', to ? undefined : 'to'].filter(Boolean);
    if (missing.length > 0) {
      throw new BadRequestException({
        message: 'a diff needs two versions',
        issues: missing.map((name) => `${name}: a dataset version id or sequence number is required`),
      });
    }
    return this.diffs.diff(pipelineId, from!, to!);
  }
}
