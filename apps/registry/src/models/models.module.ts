import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { rolloutControllers, rolloutProviders } from '../rollouts/rollouts.wiring';
import { AliasMovesService } from './alias-moves.service';
import { AliasesRepository } from './aliases.repository';
import { ModelQueriesService } from './model-queries.service';
import { ModelRegistrationService } from './model-registration.service';
import { ModelRegistryGrpc } from './model-registry.grpc';
import { ModelTrainedConsumer } from './model-trained.consumer';
import { ModelVersionsRepository } from './model-versions.repository';
import { ModelsController } from './models.controller';

/** Model versions, gates, aliases and rollouts: fed by mlops.model.trained.v1, read and aliases moved over gRPC and HTTP. */
@Module({
  imports: [WorkersModule],
  controllers: [ModelsController, ...rolloutControllers],
  providers: [
    ModelVersionsRepository,
    AliasesRepository,
    AliasMovesService,
    ModelRegistrationService,
    ModelQueriesService,
    ModelTrainedConsumer,
    ModelRegistryGrpc,
    ...rolloutProviders,
  ],
})
export class ModelsModule {}
