import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { AliasMovesService } from './alias-moves.service';
import { AliasesRepository } from './aliases.repository';
import { ModelQueriesService } from './model-queries.service';
import { ModelRegistrationService } from './model-registration.service';
import { ModelRegistryGrpc } from './model-registry.grpc';
import { ModelTrainedConsumer } from './model-trained.consumer';
import { ModelVersionsRepository } from './model-versions.repository';
import { ModelsController } from './models.controller';

/** Model versions, gates and aliases: fed by mlops.model.trained.v1, read and aliases moved over gRPC and HTTP. */
@Module({
  imports: [WorkersModule],
  controllers: [ModelsController],
  providers: [
    ModelVersionsRepository,
    AliasesRepository,
    AliasMovesService,
    ModelRegistrationService,
    ModelQueriesService,
    ModelTrainedConsumer,
    ModelRegistryGrpc,
  ],
})
export class ModelsModule {}
