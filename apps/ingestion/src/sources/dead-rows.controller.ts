import { BadRequestException, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { DeadRowsService } from './dead-rows.service';

/** Most dead rows one listing answers. */
const MAX_LIST = 1_000;

/** A source's dead letter: the rows its pulls refused, listed and replayed. */
@Controller('api/v1/pipelines/:id/sources/:sourceId/dead-rows')
export class DeadRowsController {
  constructor(private readonly deadRows: DeadRowsService) {}

  /** Its dead rows, oldest first (`replayed=true`: those replayed too), with how many are dead and replayed. */
  @Get()
  list(
    @Param('id') pipelineId: string,
    @Param('sourceId') sourceId: string,
    @Query('limit') limit?: string,
    @Query('replayed') replayed?: string,
  ) {
    const count = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(count) || count < 1 || count > MAX_LIST) {
      throw new BadRequestException(`limit must be an integer from 1 to ${MAX_LIST}`);
    }
    return this.deadRows.list(pipelineId, sourceId, { limit: count, includeReplayed: replayed === 'true' });
  }

  /**
   * Checks its dead rows again under the spec as it is now and writes those that pass as one dataset version; each
   * row is replayed once (409 while a pull or a replay of the source runs).
   */
  @Post('replay')
  @HttpCode(200)
  replay(@Param('id') pipelineId: string, @Param('sourceId') sourceId: string) {
    return this.deadRows.replay(pipelineId, sourceId);
  }
}
