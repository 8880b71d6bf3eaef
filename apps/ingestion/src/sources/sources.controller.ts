import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { SourcePullsService } from './source-pulls.service';

/** The spec's sources: pull one now, list its pulls, read where it stands. */
@Controller('api/v1/pipelines/:id/sources/:sourceId')
export class SourcesController {
  constructor(private readonly pulls: SourcePullsService) {}

  /** Pulls the source now and answers with the finished run (409 while another pull of it runs). */
  @Post('pulls')
  @HttpCode(200)
  pull(@Param('id') pipelineId: string, @Param('sourceId') sourceId: string) {
    return this.pulls.pull(pipelineId, sourceId, 'api');
  }

  /** Its pulls, newest first. */
  @Get('pulls')
  async runs(@Param('id') pipelineId: string, @Param('sourceId') sourceId: string) {
    return { items: await this.pulls.runs(pipelineId, sourceId) };
  }

  /** Its committed watermark, the chunk planned but not committed (if any), rows pulled so far. */
  @Get()
  async state(@Param('id') pipelineId: string, @Param('sourceId') sourceId: string) {
    const { version, state } = await this.pulls.state(pipelineId, sourceId);
    return { version, ...state };
  }
}
