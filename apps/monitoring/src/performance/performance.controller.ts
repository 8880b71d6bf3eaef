import { BadRequestException, Controller, Get, Param, Query } from '@nestjs/common';
import { parsePipelineIdParam } from '../pipeline-id.param';
import { type PerformanceView, PerformanceService } from './performance.service';

const MAX_WINDOWS = 100;

@Controller('api/v1/pipelines')
export class PerformanceController {
  constructor(private readonly performance: PerformanceService) {}

  /**
   * `GET /api/v1/pipelines/:id/performance[?windows=N]`: per model version (newest first), the rolling performance
   * over its last `windowLabels` joined labels, concept drift on its error stream, and its N newest closed label
   * windows (default 10, at most 100) with their CBPE estimates.
   */
  @Get(':id/performance')
  async view(@Param('id') id: string, @Query('windows') windows?: string): Promise<PerformanceView> {
    const pipelineId = parsePipelineIdParam(id);
    const limit = windows === undefined ? 10 : Number(windows);
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_WINDOWS) {
      throw new BadRequestException({ message: `windows must be an integer from 0 to ${MAX_WINDOWS}` });
    }
    return this.performance.view(pipelineId, limit);
  }
}
