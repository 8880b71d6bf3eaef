import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Put } from '@nestjs/common';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { InvalidPipelineSpecError } from '@keel/pipelines';
import { type AppliedPipeline, PipelineIdMismatchError, PipelinesService } from './pipelines.service';

/** JSON view of a stored spec. */
function view(stored: StoredPipelineSpec) {
  return {
    pipelineId: stored.pipelineId,
    version: stored.version,
    appliedAt: stored.appliedAt.toISOString(),
    spec: stored.spec,
  };
}

/** Pipeline specs over HTTP: apply (YAML or JSON), read, list. */
@Controller('api/v1/pipelines')
export class PipelinesController {
  constructor(private readonly pipelines: PipelinesService) {}

  @Put(':id')
  @HttpCode(200)
  async apply(@Param('id') id: string, @Body() body: unknown): Promise<AppliedPipeline> {
    // An absent or unparsed body reaches us as {} or undefined; the spec parser names what is missing.
    try {
      return await this.pipelines.apply(id, body ?? '');
    } catch (error) {
      if (error instanceof InvalidPipelineSpecError) {
        throw new BadRequestException({ error: 'invalid pipeline spec', issues: error.issues });
      }
      if (error instanceof PipelineIdMismatchError) {
        throw new BadRequestException({ error: 'pipeline id mismatch', issues: [`id: ${error.message}`] });
      }
      throw error;
    }
  }

  @Get()
  async list() {
    return { pipelines: (await this.pipelines.list()).map(view) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const stored = await this.pipelines.get(id);
    if (!stored) throw new NotFoundException({ error: `pipeline "${id}" not found` });
    return view(stored);
  }
}
