import { Controller, Get, Param } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { DriftService } from './drift.service';
import { type ListedWindow } from './drift-window.repository';

@Controller('api/v1/pipelines')
export class DriftController {
  constructor(private readonly drift: DriftService) {}

  /** `GET /api/v1/pipelines/:id/drift`: evaluated window reports, newest first (at most 100). */
  @Get(':id/drift')
  async reports(@Param('id') id: string): Promise<{ pipelineId: string; windows: ListedWindow[] }> {
    const pipelineId = parsePipelineIdParam(id);
    return { pipelineId, windows: await this.drift.reports(pipelineId) };
  }
}
