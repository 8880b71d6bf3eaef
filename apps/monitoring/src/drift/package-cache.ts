import { Inject, Injectable, Optional } from '@nestjs/common';
import { NonRetryableError } from '@keel/messaging';
import { fetchModelPackage, type ModelPackage } from '@keel/model-package';
import { type ModelRegistryApi, REGISTRY_CLIENT } from '@keel/registry-client';
import { Infrastructure } from '@keel/service-runtime';
import {
  type ModelVersionRef,
  PACKAGE_LOCATOR_OVERRIDE,
  type PackageLocator,
  RegistryPackageLocator,
} from './package-locator';

const MAX_CACHED = 32;

/**
 * Model packages by version. A version's package never changes, so it is fetched once and kept (the few most recent
 * versions); a failed fetch is not cached, so the next window tries again.
 */
@Injectable()
export class PackageCache {
  private readonly locator: PackageLocator;
  private readonly cache = new Map<string, Promise<ModelPackage>>();

  constructor(
    private readonly infra: Infrastructure,
    @Inject(REGISTRY_CLIENT) registry: ModelRegistryApi,
    @Optional() @Inject(PACKAGE_LOCATOR_OVERRIDE) override?: PackageLocator,
  ) {
    this.locator = override ?? new RegistryPackageLocator(registry);
  }

  get(ref: ModelVersionRef): Promise<ModelPackage> {
    const key = `${ref.pipelineId}/${ref.modelName}@${ref.modelVersion}`;
    let entry = this.cache.get(key);
    if (!entry) {
      entry = this.load(ref);
      this.cache.set(key, entry);
      entry.catch(() => this.cache.delete(key));
      if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    }
    return entry;
  }

  private async load(ref: ModelVersionRef): Promise<ModelPackage> {
    const located = await this.locator.locate(ref);
    const { pkg } = await fetchModelPackage(this.infra.objects, located);
    if (!pkg.reference || Object.keys(pkg.reference).length === 0) {
      throw new NonRetryableError(`package ${located.packageUri} has no drift reference`, 'package-without-reference');
    }
    return pkg;
  }
}
