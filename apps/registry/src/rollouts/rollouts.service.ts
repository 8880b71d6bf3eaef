import { Injectable, type OnModuleInit } from '@nestjs/common';
import { mongoKeyedTable, type Versioned, VersionedDocuments } from '@keel/coordination';
import {
  type EventData,
  FINAL_ROLLOUT_STATES,
  type ManualRolloutAction,
  ModelRolloutTransitionedV1,
  RolloutSpec,
  type RolloutStrategy,
  type RolloutTrigger,
  WellKnownAlias,
} from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { AliasMovesService } from '../models/alias-moves.service';
import { AliasesRepository, type RolloutNote } from '../models/aliases.repository';
import { RegistryInvalidArgumentError, RegistryNotFoundError } from '../models/model-queries.service';
import { type ModelVersionRecord, ModelVersionsRepository } from '../models/model-versions.repository';
import {
  aliasTargets,
  environmentOf,
  isFinal,
  type ProgressiveStrategy,
  type Rollout,
  RolloutTransitionRefusedError,
  startRollout,
  transition,
} from './rollout-machine';

export const ROLLOUT_REVISIONS_COLLECTION = 'rollout_revisions';
export const ROLLOUT_HEADS_COLLECTION = 'rollout_heads';

/** A rollout as stored: the state after its latest transition and that transition's number. */
export type RolloutRevision = Versioned<Rollout>;

/** Who moves a rollout when a timer or analysis does, rather than a person. */
export const ROLLOUT_ACTOR = 'registry';

/** CloudEvent id of a rollout transition: unique per model and transition number, so a republish deduplicates. */
export const rolloutEventId = (modelName: string, revision: number) => `rollout-${modelName}-${revision}`;

/** Which version(s) answered requests for an alias at an instant, with their shares of traffic. */
export interface AnsweredVersions {
  modelName: string;
  alias: string;
  at: Date;
  versions: { version: number; weight: number; role: 'champion' | 'candidate' | 'alias' }[];
  /** The rollout that split the alias's traffic then, if one did. */
  rolloutId?: string;
}

/**
 * Rollouts of candidate versions into production: a persisted state machine (rollout-machine.ts) per model, one
 * active rollout at a time. Each transition is claimed by inserting its numbered revision (`@keel/coordination`'s
 * compare-and-set on the unique `_id`), so two registry replicas applying transitions at once never both win; the
 * winner then applies its effects, each idempotent: aliases moved to where the state puts them, a line in the
 * champion's alias history, `mlops.model.rollout-transitioned.v1`, all in one span.
 */
@Injectable()
export class RolloutsService implements OnModuleInit {
  private readonly documents: VersionedDocuments<Rollout & Record<string, unknown>>;

  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: ModelVersionsRepository,
    private readonly aliases: AliasesRepository,
    private readonly aliasMoves: AliasMovesService,
  ) {
    this.documents = new VersionedDocuments({
      revisions: mongoKeyedTable(infra.mongo, ROLLOUT_REVISIONS_COLLECTION),
      heads: mongoKeyedTable(infra.mongo, ROLLOUT_HEADS_COLLECTION),
      versionField: 'revision',
      revisionId: (name, revision) => `${name}#${revision}`,
    });
  }

  async onModuleInit(): Promise<void> {
    const revisions = this.infra.mongo.collection(ROLLOUT_REVISIONS_COLLECTION);
    await revisions.createIndex({ modelName: 1, revision: 1 });
    await this.infra.mongo.collection(ROLLOUT_HEADS_COLLECTION).createIndex({ state: 1 });
  }

  /** The model's latest rollout (active or finished), or null when it never had one. */
  async current(modelName: string): Promise<RolloutRevision | null> {
    requireModelName(modelName);
    return this.documents.read(modelName);
  }

  /** Models whose latest rollout is not final, for the driver (heads are hints: the driver reads each again). */
  async activeModels(): Promise<string[]> {
    const heads = await this.infra.mongo
      .collection<{ _id: string }>(ROLLOUT_HEADS_COLLECTION)
      .find({ state: { $nin: [...FINAL_ROLLOUT_STATES] } }, { projection: { _id: 1 } })
      .toArray();
    return heads.map((head) => head._id);
  }

  /** Every transition of the model's rollouts (of one rollout when `rolloutId` is given), oldest first. */
  async history(modelName: string, rolloutId?: string): Promise<RolloutRevision[]> {
    requireModelName(modelName);
    const filter: Record<string, unknown> = { modelName, ...(rolloutId ? { rolloutId } : {}) };
    const documents = await this.infra.mongo
      .collection(ROLLOUT_REVISIONS_COLLECTION)
      .find(filter)
      .sort({ revision: 1 })
      .toArray();
    return documents
      .filter((document) => typeof document.state === 'string')
      .map(({ _id: _ignored, revision, ...rollout }) => ({
        version: revision as number,
        state: rollout as unknown as Rollout,
      }));
  }

  /**
   * Starts rolling `version` out with the pipeline spec's rollout plan (its strategy, or `strategy` when given),
   * superseding an active rollout of another candidate. A candidate that already had a rollout is not started again
   * unless `restart` (a replayed registration must not undo a rollback); the answer is then its latest state.
   */
  async start(request: {
    modelName: string;
    version: number;
    strategy?: RolloutStrategy;
    actor: string;
    reason: string;
    restart?: boolean;
  }): Promise<{ rollout: RolloutRevision; started: boolean }> {
    const record = await this.requireVersion(request.modelName, request.version);
    const { spec } = await this.infra.pipelines.getModelPipeline(record.pipelineId);
    const plan = RolloutSpec.parse({ ...spec.rollout, strategy: request.strategy ?? spec.rollout.strategy });
    if (plan.strategy === 'replace') {
      throw new RegistryInvalidArgumentError('strategy', 'replace moves the champion at once: set the alias instead');
    }
    const strategy: ProgressiveStrategy = plan.strategy;
    const attributes = {
      [KeelAttr.MODEL_NAME]: record.modelName,
      [KeelAttr.MODEL_VERSION]: record.version,
      [KeelAttr.ROLLOUT_TRIGGER]: 'start',
    };
    return withSpan('rollout start', attributes, async (span) => {
      const existing = await this.current(record.modelName);
      if (!request.restart) {
        const earlier = await this.latestOfCandidate(record.modelName, record.version, existing);
        if (earlier) {
          await this.applyEffects(record, earlier);
          return { rollout: earlier, started: false };
        }
      }
      if (existing && !isFinal(existing.state.state)) {
        await this.transition(record.modelName, 'supersede', {
          actor: request.actor,
          reason: `superseded by v${record.version}: ${request.reason}`,
        });
      }
      const champion = await this.aliases.get(record.modelName, WellKnownAlias.CHAMPION);
      for (let attempt = 0; attempt < 20; attempt++) {
        const latest = await this.documents.read(record.modelName);
        if (latest && !isFinal(latest.state.state)) {
          throw new RolloutTransitionRefusedError(
            `rollout ${latest.state.rolloutId} of ${record.modelName} started meanwhile; start again to supersede it`,
          );
        }
        const revision = (latest?.version ?? 0) + 1;
        const rollout = startRollout({
          rolloutId: `${record.modelName}/v${record.version}/${revision}`,
          pipelineId: record.pipelineId,
          modelName: record.modelName,
          strategy,
          candidateVersion: record.version,
          ...(champion && champion.version !== record.version ? { baselineVersion: champion.version } : {}),
          plan,
          reason: request.reason,
          actor: request.actor,
          at: new Date(),
        });
        if (await this.documents.write(record.modelName, revision - 1, rollout as Rollout & Record<string, unknown>)) {
          span.setAttribute(KeelAttr.ROLLOUT_ID, rollout.rolloutId);
          span.setAttribute(KeelAttr.ROLLOUT_STATE, rollout.state);
          const stored = { version: revision, state: rollout };
          await this.applyEffects(record, stored);
          return { rollout: stored, started: true };
        }
      }
      throw new RolloutTransitionRefusedError(`the rollouts of ${record.modelName} kept changing; try again`);
    });
  }

  /** A person's promote, rollback, pause, resume or abort, recorded with actor and reason. */
  control(modelName: string, action: ManualRolloutAction, actor: string, reason: string): Promise<RolloutRevision> {
    return this.transition(modelName, action, { actor, reason });
  }

  /**
   * Applies a trigger to the model's latest rollout; RolloutTransitionRefusedError when its state does not allow it.
   * `expect` guards automatic triggers: the transition applies only to that rollout still at that revision (a driver
   * that decided on a state another replica has moved on from decides nothing). `at` is the transition's time (the
   * driver's clock: the next step's bake counts from it).
   */
  async transition(
    modelName: string,
    trigger: Exclude<RolloutTrigger, 'start'>,
    by: { actor: string; reason: string; expect?: { rolloutId: string; revision: number }; at?: Date },
  ): Promise<RolloutRevision> {
    return (await this.apply(modelName, trigger, by)).rollout;
  }

  /** {@link transition}, also telling whether this call applied it (false: `expect` no longer held). */
  async apply(
    modelName: string,
    trigger: Exclude<RolloutTrigger, 'start'>,
    by: { actor: string; reason: string; expect?: { rolloutId: string; revision: number }; at?: Date },
  ): Promise<{ rollout: RolloutRevision; applied: boolean }> {
    requireModelName(modelName);
    const attributes = { [KeelAttr.MODEL_NAME]: modelName, [KeelAttr.ROLLOUT_TRIGGER]: trigger };
    return withSpan(`rollout ${trigger}`, attributes, async (span) => {
      const { current, changed } = await this.documents.update(modelName, (latest) => {
        if (!latest) throw new RegistryNotFoundError(`model "${modelName}" has no rollout`);
        if (by.expect && (latest.state.rolloutId !== by.expect.rolloutId || latest.version !== by.expect.revision)) {
          return null;
        }
        const next = transition(latest.state, { trigger, actor: by.actor, reason: by.reason, at: by.at ?? new Date() });
        return next as Rollout & Record<string, unknown>;
      });
      if (!current) throw new RegistryNotFoundError(`model "${modelName}" has no rollout`);
      span.setAttribute(KeelAttr.ROLLOUT_ID, current.state.rolloutId);
      span.setAttribute(KeelAttr.ROLLOUT_STATE, current.state.state);
      span.setAttribute(KeelAttr.MODEL_VERSION, current.state.candidateVersion);
      if (changed) {
        const record = await this.requireVersion(modelName, current.state.candidateVersion);
        await this.applyEffects(record, current);
      }
      return { rollout: current, applied: changed };
    });
  }

  /**
   * Which version answered requests for `alias` at `at`: the version the alias pointed at then, and for the champion
   * the candidate's share while a rollout split its traffic (a shadow candidate never answered, so it is not listed).
   */
  async answeredAt(modelName: string, alias: string, at: Date): Promise<AnsweredVersions> {
    requireModelName(modelName);
    if (Number.isNaN(at.getTime())) throw new RegistryInvalidArgumentError('at', 'is not an instant');
    const version = await this.aliases.versionAt(modelName, alias, at);
    if (version === undefined) {
      throw new RegistryNotFoundError(
        `alias "${alias}" of "${modelName}" pointed at no version at ${at.toISOString()}`,
      );
    }
    const answered: AnsweredVersions = { modelName, alias, at, versions: [{ version, weight: 100, role: 'alias' }] };
    if (alias !== WellKnownAlias.CHAMPION) return answered;
    answered.versions[0].role = 'champion';
    const [document] = await this.infra.mongo
      .collection(ROLLOUT_REVISIONS_COLLECTION)
      .find({ modelName, 'transition.at': { $lte: at } })
      .sort({ revision: -1 })
      .limit(1)
      .toArray();
    const rollout = document && typeof document.state === 'string' ? (document as unknown as Rollout) : undefined;
    const weight = rollout?.candidateWeight ?? 0;
    if (!rollout || isFinal(rollout.state) || weight === 0 || rollout.candidateVersion === version) return answered;
    answered.rolloutId = rollout.rolloutId;
    answered.versions = [
      { version, weight: 100 - weight, role: 'champion' },
      { version: rollout.candidateVersion, weight, role: 'candidate' },
    ].filter((share) => share.weight > 0) as AnsweredVersions['versions'];
    return answered;
  }

  /**
   * Brings the world in line with a recorded transition; every step is idempotent, so applying it again (a retry,
   * a replayed start) changes nothing that is already done.
   */
  private async applyEffects(record: ModelVersionRecord, stored: RolloutRevision): Promise<void> {
    const { state: rollout, version: revision } = stored;
    const note: RolloutNote = {
      rolloutId: rollout.rolloutId,
      revision,
      trigger: rollout.transition.trigger,
      ...(rollout.transition.from ? { from: rollout.transition.from } : {}),
      to: rollout.state,
      candidateVersion: rollout.candidateVersion,
      candidateWeight: rollout.candidateWeight,
    };
    const reason = `rollout ${rollout.rolloutId} ${rollout.transition.trigger} → ${rollout.state}: ${rollout.transition.reason}`;
    const base = {
      modelName: rollout.modelName,
      reason: reason.slice(0, 500),
      changedBy: rollout.transition.actor,
      changedAt: new Date(rollout.transition.at),
      rollout: note,
    };
    for (const target of aliasTargets(rollout)) {
      const targetRecord =
        target.version === record.version ? record : await this.requireVersion(rollout.modelName, target.version);
      await this.aliasMoves.move(targetRecord, { ...base, alias: target.alias, version: target.version });
    }
    // The transition's line in the history of the alias whose traffic it is about (champion; else the candidate's).
    const historyAlias =
      (await this.aliases.get(rollout.modelName, WellKnownAlias.CHAMPION)) !== null
        ? WellKnownAlias.CHAMPION
        : rollout.state === 'staging' || rollout.transition.from === 'staging'
          ? WellKnownAlias.STAGING
          : WellKnownAlias.CHALLENGER;
    const written = await this.aliases.findRolloutEntry(rollout.modelName, historyAlias, rollout.rolloutId, revision);
    if (!written) {
      const pointer = await this.aliases.get(rollout.modelName, historyAlias);
      if (pointer) {
        await this.aliases.move({ ...base, alias: historyAlias, version: pointer.version }, { recordUnmoved: true });
      }
    }
    await this.infra.publisher.publish(ModelRolloutTransitionedV1, this.eventOf(record, stored), {
      id: rolloutEventId(rollout.modelName, revision),
    });
  }

  private eventOf(record: ModelVersionRecord, stored: RolloutRevision): EventData<typeof ModelRolloutTransitionedV1> {
    const { state: rollout } = stored;
    return {
      // Stored from a validated event; the publisher validates it again against the contract.
      pipelineId: record.pipelineId as EventData<typeof ModelRolloutTransitionedV1>['pipelineId'],
      modelName: rollout.modelName,
      environment: environmentOf(rollout),
      rolloutId: rollout.rolloutId,
      strategy: rollout.strategy,
      candidateVersion: rollout.candidateVersion,
      ...(rollout.baselineVersion !== undefined && rollout.baselineVersion !== null
        ? { baselineVersion: rollout.baselineVersion }
        : {}),
      ...(rollout.transition.from ? { from: rollout.transition.from } : {}),
      to: rollout.state,
      trigger: rollout.transition.trigger,
      reason: rollout.transition.reason.slice(0, 500),
      actor: rollout.transition.actor.slice(0, 200),
      step: rollout.step,
      candidateWeight: rollout.candidateWeight,
      mirrored: rollout.mirrored,
      revision: stored.version,
    };
  }

  /** The latest state of the model's rollout of `version`, if it ever had one. */
  private async latestOfCandidate(
    modelName: string,
    version: number,
    current: RolloutRevision | null,
  ): Promise<RolloutRevision | null> {
    if (current?.state.candidateVersion === version) return current;
    const [document] = await this.infra.mongo
      .collection(ROLLOUT_REVISIONS_COLLECTION)
      .find({ modelName, candidateVersion: version })
      .sort({ revision: -1 })
      .limit(1)
      .toArray();
    if (!document || typeof document.state !== 'string') return null;
    const { _id: _ignored, revision, ...rollout } = document;
    return { version: revision as number, state: rollout as unknown as Rollout };
  }

  private async requireVersion(modelName: string, version: number): Promise<ModelVersionRecord> {
    requireModelName(modelName);
    if (!Number.isInteger(version) || version <= 0) {
      throw new RegistryInvalidArgumentError('version', `must be a positive integer, got ${version}`);
    }
    const record = await this.versions.find(modelName, version);
    if (!record) throw new RegistryNotFoundError(`model "${modelName}" has no version ${version}`);
    return record;
  }
}

function requireModelName(modelName: string): void {
  if (!modelName || modelName.trim() === '') throw new RegistryInvalidArgumentError('model_name', 'is required');
}
