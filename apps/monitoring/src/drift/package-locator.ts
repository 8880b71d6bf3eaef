import { credentials, loadPackageDefinition, type ServiceError, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Global, Module, type Type } from '@nestjs/common';
import { REGISTRY_PROTO } from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { type ModelPackageRef } from '@keel/model-package';

/** The model version whose package monitoring needs (its drift reference). */
export interface ModelVersionRef {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
}

/** Finds the package of a model version. The registry is the default; tests and registry-less setups plug in. */
export interface PackageLocator {
  locate(ref: ModelVersionRef): Promise<ModelPackageRef>;
}

/** DI token of a PackageLocator that replaces the registry lookup. */
export const PACKAGE_LOCATOR_OVERRIDE = Symbol('PACKAGE_LOCATOR_OVERRIDE');

/** A global module that makes monitoring use `locator` instead of the registry; list it next to MonitoringModule. */
export function packageLocatorModule(locator: PackageLocator): Type<unknown> {
  @Global()
  @Module({
    providers: [{ provide: PACKAGE_LOCATOR_OVERRIDE, useValue: locator }],
    exports: [PACKAGE_LOCATOR_OVERRIDE],
  })
  class PackageLocatorOverrideModule {}
  return PackageLocatorOverrideModule;
}

interface ModelVersionMessage {
  package_uri: string;
  package_sha256: string;
}

interface RegistryClient {
  GetModelVersion(
    request: { model_name: string; version: number },
    options: { deadline: Date },
    callback: (error: ServiceError | null, response?: ModelVersionMessage) => void,
  ): void;
  close(): void;
}

/** Asks the registry's gRPC API (`GetModelVersion`) for the package URI; the client connects on first use. */
export class RegistryPackageLocator implements PackageLocator {
  private client?: RegistryClient;

  constructor(
    private readonly address: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async locate(ref: ModelVersionRef): Promise<ModelPackageRef> {
    const client = (this.client ??= this.connect());
    const response = await new Promise<ModelVersionMessage>((resolve, reject) =>
      client.GetModelVersion(
        { model_name: ref.modelName, version: ref.modelVersion },
        { deadline: new Date(Date.now() + this.timeoutMs) },
        (error, message) => (error ? reject(error) : resolve(message!)),
      ),
    ).catch((error: ServiceError) => {
      // A version the registry does not know will not appear by retrying; anything else (unavailable) may.
      if (error.code === status.NOT_FOUND || error.code === status.INVALID_ARGUMENT) {
        throw new NonRetryableError(
          `registry has no ${ref.modelName} v${ref.modelVersion}: ${error.details}`,
          'model-version-unknown',
        );
      }
      throw error;
    });
    if (!response.package_uri) throw new NonRetryableError(`registry gave no package URI for ${ref.modelName}`);
    return { packageUri: response.package_uri, packageSha256: response.package_sha256, pipelineId: ref.pipelineId };
  }

  close(): void {
    this.client?.close();
  }

  private connect(): RegistryClient {
    const definition = loadPackageDefinition(
      loadSync(REGISTRY_PROTO, { keepCase: true, longs: Number, enums: String, defaults: true }),
    ) as unknown as {
      mlops: { registry: { v1: { ModelRegistry: new (address: string, creds: unknown) => RegistryClient } } };
    };
    return new definition.mlops.registry.v1.ModelRegistry(this.address, credentials.createInsecure());
  }
}
