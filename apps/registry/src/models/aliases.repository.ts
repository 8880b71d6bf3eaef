import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** Where an alias points now (collection `model_aliases`): a cache of its latest recorded move. */
export interface AliasRecord {
  modelName: string;
  alias: string;
  version: number;
  /** Sequence number of the move that set it (absent on pointers written before moves were numbered). */
  sequence?: number;
  updatedAt: Date;
}

/** One move of an alias (append-only collection `alias_moves`), numbered 1, 2, 3 … per alias. */
export interface AliasMoveRecord {
  modelName: string;
  alias: string;
  /** Position in the alias's history; a rollback to an earlier version is a new move with a new number. */
  sequence: number;
  version: number;
  /** Absent when the alias was unset before. */
  previousVersion?: number;
  reason: string;
  changedBy: string;
  changedAt: Date;
  /** Set on the entries a rollout transition writes (a move, or a note at the same version when no alias moved). */
  rollout?: RolloutNote;
}

/** The rollout transition an alias history entry records. */
export interface RolloutNote {
  rolloutId: string;
  /** The transition's number among the model's rollout transitions. */
  revision: number;
  trigger: string;
  from?: string;
  to: string;
  candidateVersion: number;
  candidateWeight: number;
}

/** A move to record: the repository numbers it and fills in the previous version. */
export type AliasMoveDraft = Omit<AliasMoveRecord, 'sequence' | 'previousVersion'>;

const aliasSchema = new Schema<AliasRecord>(
  {
    modelName: { type: String, required: true },
    alias: { type: String, required: true },
    version: { type: Number, required: true },
    sequence: { type: Number, required: false },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'model_aliases', versionKey: false },
);
aliasSchema.index({ modelName: 1, alias: 1 }, { unique: true });

// Keyed by `_id` = model/alias/sequence: two writers numbering the same move collide on the primary key.
const aliasMoveSchema = new Schema<AliasMoveRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    modelName: { type: String, required: true },
    alias: { type: String, required: true },
    sequence: { type: Number, required: true },
    version: { type: Number, required: true },
    previousVersion: { type: Number, required: false },
    reason: { type: String, required: true },
    changedBy: { type: String, required: true },
    changedAt: { type: Date, required: true },
    rollout: { type: Object, required: false },
  },
  { collection: 'alias_moves', versionKey: false },
);

/** The unique (model, alias, version) index of unnumbered moves, which refused a second move to the same version. */
const RETIRED_MOVE_INDEX = 'modelName_1_alias_1_version_1';
const DUPLICATE_KEY = 11000;

const isDuplicateKey = (error: unknown) => (error as { code?: unknown }).code === DUPLICATE_KEY;
const moveId = (modelName: string, alias: string, sequence: number) => `${modelName}/${alias}/${sequence}`;

/** Aliases and their history. */
@Injectable()
export class AliasesRepository implements OnModuleInit {
  private readonly aliases: Model<AliasRecord>;
  private readonly moves: Model<AliasMoveRecord & { _id: string }>;

  constructor(infra: Infrastructure) {
    this.aliases =
      (infra.mongo.models.ModelAlias as Model<AliasRecord> | undefined) ??
      infra.mongo.model<AliasRecord>('ModelAlias', aliasSchema);
    this.moves =
      (infra.mongo.models.AliasMove as Model<AliasMoveRecord & { _id: string }> | undefined) ??
      infra.mongo.model<AliasMoveRecord & { _id: string }>('AliasMove', aliasMoveSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.aliases.createIndexes(), this.moves.createIndexes()]);
    await this.moves.collection.dropIndex(RETIRED_MOVE_INDEX).catch(() => undefined);
  }

  /** Where the alias points: its latest recorded move (the pointer is only where the search for it starts). */
  async get(modelName: string, alias: string): Promise<AliasRecord | null> {
    const pointer = await this.pointer(modelName, alias);
    const latest = await this.latestMove(modelName, alias, pointer);
    if (!latest || (pointer?.sequence ?? 0) >= latest.sequence) return pointer;
    return { modelName, alias, version: latest.version, sequence: latest.sequence, updatedAt: latest.changedAt };
  }

  /** Every alias of a model, to annotate versions with the aliases pointing at them. */
  listForModel(modelName: string): Promise<AliasRecord[]> {
    return this.aliases.find({ modelName }, { _id: 0 }).lean<AliasRecord[]>();
  }

  /** The latest move of an alias to `version` made by `changedBy`, if any. */
  findLatestMoveTo(modelName: string, alias: string, version: number, changedBy: string) {
    return this.moves
      .findOne({ modelName, alias, version, changedBy }, { _id: 0 })
      .sort({ sequence: -1 })
      .lean<AliasMoveRecord>();
  }

  /** Moves of a model's alias (all aliases when `alias` is undefined), newest first. */
  history(modelName: string, alias?: string): Promise<AliasMoveRecord[]> {
    const filter = alias ? { modelName, alias } : { modelName };
    return this.moves.find(filter, { _id: 0 }).sort({ changedAt: -1, sequence: -1 }).lean<AliasMoveRecord[]>();
  }

  /**
   * Points the alias at `draft.version`, recording the move as the alias's next numbered one; `moved: false` with the
   * latest move when it already points there. Safe across replicas without transactions: the move is claimed by
   * inserting it under its number, so of two writers numbering the same move exactly one succeeds and the other
   * decides again on top of the recorded one. The history is the truth and the pointer its cache: where the alias
   * stands is read from the latest move, found from the pointer forward by `_id`, so a pointer a late writer left
   * behind never hides a move (docs/design/repositories.md rule 2). With `recordUnmoved` an entry at the same version
   * is recorded too (a rollout transition that moved no alias still has its line in the history).
   */
  async move(
    draft: AliasMoveDraft,
    options: { recordUnmoved?: boolean } = {},
  ): Promise<{ move: AliasMoveRecord; moved: boolean }> {
    const { modelName, alias } = draft;
    for (let attempt = 0; attempt < 10; attempt++) {
      const pointer = await this.pointer(modelName, alias);
      const latest = await this.latestMove(modelName, alias, pointer);
      const currentVersion = latest?.version ?? pointer?.version;
      const last = latest?.sequence ?? (pointer ? await this.moves.countDocuments({ modelName, alias }) : 0);
      if (currentVersion === draft.version && !options.recordUnmoved) {
        return { move: latest ?? { ...draft, sequence: last }, moved: false };
      }
      const move: AliasMoveRecord = { ...draft, sequence: last + 1, previousVersion: currentVersion };
      try {
        await this.moves.create({ _id: moveId(modelName, alias, move.sequence), ...move });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        continue;
      }
      await this.point(move);
      return { move, moved: currentVersion !== draft.version };
    }
    throw new Error(`could not move alias ${alias} of ${modelName}: too many concurrent moves`);
  }

  /** The entry a rollout transition wrote in an alias's history, if it did (so effects applied twice write once). */
  findRolloutEntry(modelName: string, alias: string, rolloutId: string, revision: number) {
    return this.moves
      .findOne({ modelName, alias, 'rollout.rolloutId': rolloutId, 'rollout.revision': revision }, { _id: 0 })
      .lean<AliasMoveRecord>();
  }

  /** The version the alias pointed at, at `at`: its latest move made at or before then (undefined: it was unset). */
  async versionAt(modelName: string, alias: string, at: Date): Promise<number | undefined> {
    const move = await this.moves
      .findOne({ modelName, alias, changedAt: { $lte: at } }, { _id: 0 })
      .sort({ sequence: -1 })
      .lean<AliasMoveRecord>();
    return move?.version;
  }

  private pointer(modelName: string, alias: string): Promise<AliasRecord | null> {
    return this.aliases.findOne({ modelName, alias }, { _id: 0 }).lean<AliasRecord>();
  }

  /** The alias's latest numbered move: from the pointer's, forward by `_id` while a later one exists; repairs the pointer. */
  private async latestMove(
    modelName: string,
    alias: string,
    pointer: AliasRecord | null,
  ): Promise<AliasMoveRecord | null> {
    let sequence = pointer?.sequence ?? 0;
    let latest = sequence > 0 ? await this.findMove(modelName, alias, sequence) : null;
    for (;;) {
      const next = await this.findMove(modelName, alias, sequence + 1);
      if (!next) break;
      latest = next;
      sequence += 1;
    }
    if (latest && (pointer?.sequence ?? 0) < latest.sequence) await this.point(latest);
    return latest;
  }

  /**
   * Points the alias at a recorded move, unless it already reflects a later one. The filter keeps a late writer from
   * moving the pointer back; it is not the guard of concurrent moves, the move's `_id` is (docs/design/repositories.md).
   */
  async point(move: AliasMoveRecord): Promise<void> {
    const { modelName, alias, version, sequence } = move;
    try {
      await this.aliases.updateOne(
        { modelName, alias, $or: [{ sequence: { $lt: sequence } }, { sequence: { $exists: false } }] },
        { $set: { version, sequence, updatedAt: new Date() } },
        { upsert: true },
      );
    } catch (error) {
      // The pointer exists with this or a later move: the upsert's insert hit the unique (model, alias) index.
      if (!isDuplicateKey(error)) throw error;
    }
  }

  private findMove(modelName: string, alias: string, sequence: number): Promise<AliasMoveRecord | null> {
    return this.moves.findOne({ _id: moveId(modelName, alias, sequence) }, { _id: 0 }).lean<AliasMoveRecord>();
  }
}
