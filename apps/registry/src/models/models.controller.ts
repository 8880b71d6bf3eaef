import { BadRequestException, Body, Controller, Get, NotFoundException, Param, Put } from '@nestjs/common';
import { RequiresRole } from '@keel/service-runtime';
import { z } from 'zod';
import { AliasMovesService } from './alias-moves.service';
import { ModelQueriesService, RegistryInvalidArgumentError, RegistryNotFoundError } from './model-queries.service';

/** Body of `PUT /api/v1/models/<name>/aliases/<alias>`. */
const SetAliasBody = z.object({
  version: z.number().int().positive(),
  reason: z.string().max(500).optional(),
  changedBy: z.string().max(200).optional(),
});

/** HTTP view of the registry for people and tests (services use gRPC): reads, and alias moves. */
@Controller('api/v1/models')
export class ModelsController {
  constructor(
    private readonly queries: ModelQueriesService,
    private readonly aliasMoves: AliasMovesService,
  ) {}

  @Get(':name/versions')
  async versions(@Param('name') name: string) {
    return { modelName: name, versions: await http(() => this.queries.listVersions(name)) };
  }

  /** The version's evaluation report: overall and sliced metrics, confusion matrix, ROC/PR points, calibration. */
  @Get(':name/versions/:version/evaluation')
  evaluation(@Param('name') name: string, @Param('version') version: string) {
    return http(() => this.queries.evaluationReport(name, Number(version)));
  }

  @Get(':name/aliases/:alias')
  alias(@Param('name') name: string, @Param('alias') alias: string) {
    return http(() => this.queries.resolveAlias(name, alias));
  }

  /** Points the alias at a version: `{ version, reason?, changedBy? }`; answers the recorded move. */
  @RequiresRole('deployer')
  @Put(':name/aliases/:alias')
  async setAlias(@Param('name') name: string, @Param('alias') alias: string, @Body() body: unknown) {
    const parsed = SetAliasBody.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException({
        error: 'invalid request',
        issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`),
      });
    }
    const { move, moved } = await http(() => this.aliasMoves.setAlias({ modelName: name, alias, ...parsed.data }));
    return { ...move, moved };
  }

  @Get(':name/aliases/:alias/history')
  async history(@Param('name') name: string, @Param('alias') alias: string) {
    return { modelName: name, alias, moves: await http(() => this.queries.aliasHistory(name, alias)) };
  }
}

async function http<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof RegistryNotFoundError) throw new NotFoundException({ error: error.message });
    if (error instanceof RegistryInvalidArgumentError) {
      throw new BadRequestException({ error: 'invalid request', issues: [error.message] });
    }
    throw error;
  }
}
