import { Module } from '@nestjs/common';

/** Versioned model packages with lineage, gates and aliases, discoverable over gRPC. */
@Module({})
export class RegistryModule {}
