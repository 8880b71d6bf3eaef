import { Controller, Get, HttpCode, HttpException, Param, Post } from '@nestjs/common';
import { failedPullStatus, SourcePullFailedError } from './pull-failures';
import { SourcePullsService } from './source-pulls.service';

/** The spec's sources: pull one now, list its pulls, read where it stands. */
@Controller('api/v1/pipelines/:id/sources/:sourceId')
export class SourcesController {
  constructor(private readonly pulls: SourcePullsService) {}

  /**
   * Pulls the source now and answers with the finished run (409 while another pull of it runs). A failed pull
   * answers its run too, `error` saying why, with a status saying whose failure it is (see failedPullStatus): the
   * caller needs the reason, and a 500 would tell monitors that ingestion itself is broken when an API is down.
   */
  @Post('pulls')
  @HttpCode(200)
  async pull(@Param('id') pipelineId: string, @Param('sourceId') sourceId: string) {
    try {
      return await this.pulls.pull(pipelineId, sourceId, 'api');
    } catch (error) {
      if (error instanceof SourcePullFailedError) {
        throw new HttpException(error.run, failedPullStatus(error.reason), { cause: error });
      }
      throw error;
    }
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
