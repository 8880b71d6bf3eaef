import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { AliasesRepository, type AliasMoveRecord } from './aliases.repository';
import { type ModelVersionRecord, ModelVersionsRepository } from './model-versions.repository';

/** A version as readers see it: with the aliases currently pointing at it. */
export interface ModelVersionView extends ModelVersionRecord {
  aliases: string[];
}

/** A read the registry cannot answer; `kind` maps to 404 / NOT_FOUND. */
export class RegistryNotFoundError extends Error {
  readonly kind = 'not-found';
  constructor(message: string) {
    super(message);
    this.name = 'RegistryNotFoundError';
  }
}

/** A malformed read request; `field` names the input at fault (400 / INVALID_ARGUMENT). */
export class RegistryInvalidArgumentError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RegistryInvalidArgumentError';
  }
}

/**
 * Longest name (model, alias) a request may carry: names are pipeline ids (63 characters) and alias names. Refused
 * before any query or error message uses it: a 4 MiB name held the registry's event loop ~300 ms of CPU (queries,
 * an error echoing it; npm run fuzz:live).
 */
const MAX_NAME_LENGTH = 200;

function requireName(field: string, value: string | undefined): string {
  if (!value || value.trim() === '') throw new RegistryInvalidArgumentError(field, 'is required');
  if (value.length > MAX_NAME_LENGTH) {
    throw new RegistryInvalidArgumentError(field, `is ${value.length} characters long; at most ${MAX_NAME_LENGTH}`);
  }
  return value;
}

/** Reads of the registry shared by the gRPC and HTTP APIs. */
@Injectable()
export class ModelQueriesService {
  constructor(
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
    private readonly infra: Infrastructure,
  ) {}

  /** A version's evaluation report (sha256-verified), as stored when its metrics were verified. */
  async evaluationReport(modelName: string, version: number): Promise<unknown> {
    const record = await this.getVersion(modelName, version);
    const stored = record.verification?.evaluationReport;
    if (!stored) {
      throw new RegistryNotFoundError(
        `version ${version} of "${modelName}" has no evaluation report: its metrics were not recomputed on a holdout`,
      );
    }
    const bytes = await this.infra.objects.getVerified({ uri: stored.uri, sha256: stored.sha256 });
    return JSON.parse(bytes.toString('utf8')) as unknown;
  }

  async getVersion(modelName: string, version: number): Promise<ModelVersionView> {
    requireName('model_name', modelName);
    if (!Number.isInteger(version) || version <= 0) {
      throw new RegistryInvalidArgumentError('version', `must be a positive integer, got ${version}`);
    }
    const record = await this.versions.find(modelName, version);
    if (!record) {
      await this.requireModel(modelName);
      throw new RegistryNotFoundError(`model "${modelName}" has no version ${version}`);
    }
    return this.withAliases(record);
  }

  async resolveAlias(modelName: string, alias: string): Promise<ModelVersionView> {
    requireName('model_name', modelName);
    requireName('alias', alias);
    const pointer = await this.aliases.get(modelName, alias);
    if (!pointer) {
      await this.requireModel(modelName);
      throw new RegistryNotFoundError(`alias "${alias}" of model "${modelName}" is not set`);
    }
    const record = await this.versions.find(modelName, pointer.version);
    if (!record) throw new RegistryNotFoundError(`alias "${alias}" points at missing version ${pointer.version}`);
    return this.withAliases(record);
  }

  /** Every version, newest first; NOT_FOUND for a model with none. */
  async listVersions(modelName: string): Promise<ModelVersionView[]> {
    requireName('model_name', modelName);
    const [records, aliases] = await Promise.all([this.versions.list(modelName), this.aliases.listForModel(modelName)]);
    if (records.length === 0) throw new RegistryNotFoundError(`model "${modelName}" not found`);
    return records.map((record) => ({
      ...record,
      aliases: aliases.filter((alias) => alias.version === record.version).map((alias) => alias.alias),
    }));
  }

  /** Moves of one alias (or all when empty), newest first. */
  async aliasHistory(modelName: string, alias?: string): Promise<AliasMoveRecord[]> {
    requireName('model_name', modelName);
    await this.requireModel(modelName);
    return this.aliases.history(modelName, alias || undefined);
  }

  private async requireModel(modelName: string): Promise<void> {
    if (!(await this.versions.list(modelName)).length)
      throw new RegistryNotFoundError(`model "${modelName}" not found`);
  }

  private async withAliases(record: ModelVersionRecord): Promise<ModelVersionView> {
    const aliases = await this.aliases.listForModel(record.modelName);
    return {
      ...record,
      aliases: aliases.filter((alias) => alias.version === record.version).map((alias) => alias.alias),
    };
  }
}
