import { Global, Module, type Type } from '@nestjs/common';
import { NonRetryableError } from '@keel/messaging';
import { type ModelPackageRef } from '@keel/model-package';
import { type ModelRegistryApi } from '@keel/registry-client';

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

/**
 * Asks the registry (`GetModelVersion`) for the package. An unknown version fails non-retryably (the registry
 * client's typed error), an unreachable registry retryably.
 */
export class RegistryPackageLocator implements PackageLocator {
  constructor(private readonly registry: ModelRegistryApi) {}

  async locate(ref: ModelVersionRef): Promise<ModelPackageRef> {
    const version = await this.registry.getModelVersion(ref.modelName, ref.modelVersion);
    if (!version.packageUri) {
      throw new NonRetryableError(`registry gave no package URI for ${ref.modelName} v${ref.modelVersion}`);
    }
    return { packageUri: version.packageUri, packageSha256: version.packageSha256, pipelineId: ref.pipelineId };
  }
}
