import { Injectable } from '@nestjs/common';
import { AliasName, type EventData, ModelAliasChangedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type AliasMoveDraft, AliasesRepository, type AliasMoveRecord } from './aliases.repository';
import { RegistryInvalidArgumentError, RegistryNotFoundError } from './model-queries.service';
import { type ModelVersionRecord, ModelVersionsRepository } from './model-versions.repository';

/** Who moves an alias when the caller does not say. */
export const DEFAULT_CHANGED_BY = 'api';

/**
 * CloudEvent id of an alias move: the move's number in the alias's history makes it unique, so a rollback to an
 * earlier version is a new event while a republished move keeps its id (consumers deduplicate it).
 */
export const aliasChangedEventId = (modelName: string, alias: string, sequence: number) =>
  `alias-changed-${modelName}-${alias}-${sequence}`;

/** Pointing an alias at a version, as the HTTP and gRPC APIs ask for it. */
export interface AliasAssignment {
  modelName: string;
  alias: string;
  version: number;
  reason?: string;
  changedBy?: string;
}

/** Moves aliases (any name matching the alias pattern) and announces every move on mlops.model.alias-changed.v1. */
@Injectable()
export class AliasMovesService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
  ) {}

  /**
   * Points an alias at an existing version. Setting it where it already points records nothing and announces the
   * latest move again under its id, so a caller retrying after a failed publish still gets the move announced.
   */
  async setAlias(request: AliasAssignment): Promise<{ move: AliasMoveRecord; moved: boolean }> {
    const { modelName, alias, version } = request;
    if (!modelName || modelName.trim() === '') throw new RegistryInvalidArgumentError('model_name', 'is required');
    const name = AliasName.safeParse(alias);
    if (!name.success) {
      throw new RegistryInvalidArgumentError('alias', `"${alias}" is not an alias name ([a-z][a-z0-9-]{0,31})`);
    }
    if (!Number.isInteger(version) || version <= 0) {
      throw new RegistryInvalidArgumentError('version', `must be a positive integer, got ${version}`);
    }
    const record = await this.versions.find(modelName, version);
    if (!record) throw new RegistryNotFoundError(`model "${modelName}" has no version ${version}`);
    const changedBy = request.changedBy?.trim() || DEFAULT_CHANGED_BY;
    const reason = request.reason?.trim() || `set by ${changedBy}`;
    return this.move(record, { modelName, alias, version, reason, changedBy, changedAt: new Date() });
  }

  /** Records the move (if the alias is elsewhere) and announces it. */
  move(record: ModelVersionRecord, draft: AliasMoveDraft): Promise<{ move: AliasMoveRecord; moved: boolean }> {
    const attributes = {
      [KeelAttr.MODEL_NAME]: draft.modelName,
      [KeelAttr.MODEL_ALIAS]: draft.alias,
      [KeelAttr.MODEL_VERSION]: draft.version,
    };
    return withSpan('move alias', attributes, async () => {
      const outcome = await this.aliases.move(draft);
      await this.publish(record, outcome.move);
      return outcome;
    });
  }

  /** Announces a recorded move under its id (moves recorded before they were numbered have none to announce). */
  async publish(record: ModelVersionRecord, move: AliasMoveRecord): Promise<void> {
    if (!move.sequence) return;
    await this.infra.publisher.publish(
      ModelAliasChangedV1,
      {
        // Stored from a validated event; the publisher validates it again against the contract.
        pipelineId: record.pipelineId as EventData<typeof ModelAliasChangedV1>['pipelineId'],
        modelName: record.modelName,
        alias: move.alias,
        version: move.version,
        // Mongo returns null for a field stored as undefined.
        previousVersion: move.previousVersion ?? undefined,
        reason: move.reason.slice(0, 500),
        changedBy: move.changedBy.slice(0, 200),
      },
      { id: aliasChangedEventId(record.modelName, move.alias, move.sequence) },
    );
  }
}
