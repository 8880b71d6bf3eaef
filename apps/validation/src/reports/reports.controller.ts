import { Controller, Get, Param } from '@nestjs/common';
import { type ValidationReport, ValidationRepository } from './validation.repository';

/** Read side of validation reports. */
@Controller('api/v1/pipelines/:id/reports')
export class ReportsController {
  constructor(private readonly repository: ValidationRepository) {}

  /** Reports of a pipeline's dataset versions, newest first. */
  @Get()
  async list(@Param('id') pipelineId: string): Promise<{ items: ValidationReport[] }> {
    return { items: await this.repository.listReports(pipelineId) };
  }
}
