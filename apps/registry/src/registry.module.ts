import { Module } from '@nestjs/common';
import { ModelsModule } from './models/models.module';
import { PipelinesModule } from './pipelines/pipelines.module';

/** Pipeline specs, and versioned model packages with lineage, gates and aliases, discoverable over gRPC. */
@Module({ imports: [PipelinesModule, ModelsModule] })
export class RegistryModule {}
