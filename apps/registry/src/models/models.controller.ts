import { BadRequestException, Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ModelQueriesService, RegistryInvalidArgumentError, RegistryNotFoundError } from './model-queries.service';

/** Read-only HTTP view of the registry, for people and tests (services use gRPC). */
@Controller('api/v1/models')
export class ModelsController {
  constructor(private readonly queries: ModelQueriesService) {}

  @Get(':name/versions')
  async versions(@Param('name') name: string) {
    return { modelName: name, versions: await http(() => this.queries.listVersions(name)) };
  }

  @Get(':name/aliases/:alias')
  alias(@Param('name') name: string, @Param('alias') alias: string) {
    return http(() => this.queries.resolveAlias(name, alias));
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
