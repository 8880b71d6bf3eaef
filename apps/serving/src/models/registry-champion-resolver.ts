import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { credentials, loadPackageDefinition, type ServiceError, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { REGISTRY_PROTO } from '@keel/contracts';
import { SERVICE_CONFIG } from '@keel/service-runtime';
import { type ServingConfig } from '../config';
import { type ChampionRef, type ChampionResolver } from './champion-resolver';

interface ModelVersionMessage {
  modelName: string;
  version: number;
  pipelineId: string;
  packageUri: string;
  packageSha256: string;
}

interface RegistryStub {
  ResolveAlias(
    request: { modelName: string; alias: string },
    options: { deadline: Date },
    callback: (error: ServiceError | null, response: ModelVersionMessage) => void,
  ): void;
  close(): void;
}

const RESOLVE_TIMEOUT_MS = 5_000;

/** Asks the registry's `ModelRegistry.ResolveAlias(champion)`; NOT_FOUND means no champion yet. */
@Injectable()
export class RegistryChampionResolver implements ChampionResolver, OnApplicationShutdown {
  private readonly stub: RegistryStub;

  constructor(@Inject(SERVICE_CONFIG) config: ServingConfig) {
    const definition = loadSync(REGISTRY_PROTO, { keepCase: false, longs: Number, enums: String, defaults: true });
    const root = loadPackageDefinition(definition) as unknown as {
      mlops: { registry: { v1: { ModelRegistry: new (address: string, creds: unknown) => RegistryStub } } };
    };
    this.stub = new root.mlops.registry.v1.ModelRegistry(config.REGISTRY_GRPC_URL, credentials.createInsecure());
  }

  resolveChampion(pipelineId: string): Promise<ChampionRef | undefined> {
    return new Promise((resolve, reject) =>
      this.stub.ResolveAlias(
        // Serving's model name is the pipeline id, as the registry names models.
        { modelName: pipelineId, alias: 'champion' },
        { deadline: new Date(Date.now() + RESOLVE_TIMEOUT_MS) },
        (error, version) => {
          if (error?.code === status.NOT_FOUND) return resolve(undefined);
          if (error) return reject(new Error(`registry ResolveAlias(${pipelineId}, champion): ${error.message}`));
          resolve({
            pipelineId: version.pipelineId || pipelineId,
            modelName: version.modelName || pipelineId,
            version: version.version,
            packageUri: version.packageUri,
            packageSha256: version.packageSha256,
          });
        },
      ),
    );
  }

  onApplicationShutdown(): void {
    this.stub.close();
  }
}
