import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** Where an alias points now (collection `model_aliases`). */
export interface AliasRecord {
  modelName: string;
  alias: string;
  version: number;
  updatedAt: Date;
}

/** One move of an alias (append-only collection `alias_moves`). */
export interface AliasMoveRecord {
  modelName: string;
  alias: string;
  version: number;
  /** Absent when the alias was unset before. */
  previousVersion?: number;
  reason: string;
  changedBy: string;
  changedAt: Date;
}

const aliasSchema = new Schema<AliasRecord>(
  {
    modelName: { type: String, required: true },
    alias: { type: String, required: true },
    version: { type: Number, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'model_aliases', versionKey: false },
);
aliasSchema.index({ modelName: 1, alias: 1 }, { unique: true });

const aliasMoveSchema = new Schema<AliasMoveRecord>(
  {
    modelName: { type: String, required: true },
    alias: { type: String, required: true },
    version: { type: Number, required: true },
    previousVersion: { type: Number, required: false },
    reason: { type: String, required: true },
    changedBy: { type: String, required: true },
    changedAt: { type: Date, required: true },
  },
  { collection: 'alias_moves', versionKey: false },
);
// One move per (alias, version): a replayed move finds its record instead of appending a second one.
aliasMoveSchema.index({ modelName: 1, alias: 1, version: 1 }, { unique: true });

const DUPLICATE_KEY = 11000;

/** Aliases and their history. */
@Injectable()
export class AliasesRepository implements OnModuleInit {
  private readonly aliases: Model<AliasRecord>;
  private readonly moves: Model<AliasMoveRecord>;

  constructor(infra: Infrastructure) {
    this.aliases =
      (infra.mongo.models.ModelAlias as Model<AliasRecord> | undefined) ??
      infra.mongo.model<AliasRecord>('ModelAlias', aliasSchema);
    this.moves =
      (infra.mongo.models.AliasMove as Model<AliasMoveRecord> | undefined) ??
      infra.mongo.model<AliasMoveRecord>('AliasMove', aliasMoveSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.aliases.createIndexes(), this.moves.createIndexes()]);
  }

  get(modelName: string, alias: string): Promise<AliasRecord | null> {
    return this.aliases.findOne({ modelName, alias }, { _id: 0 }).lean<AliasRecord>();
  }

  /** Every alias of a model, to annotate versions with the aliases pointing at them. */
  listForModel(modelName: string): Promise<AliasRecord[]> {
    return this.aliases.find({ modelName }, { _id: 0 }).lean<AliasRecord[]>();
  }

  findMove(modelName: string, alias: string, version: number): Promise<AliasMoveRecord | null> {
    return this.moves.findOne({ modelName, alias, version }, { _id: 0 }).lean<AliasMoveRecord>();
  }

  /** Moves of a model's alias (all aliases when `alias` is undefined), newest first. */
  history(modelName: string, alias?: string): Promise<AliasMoveRecord[]> {
    const filter = alias ? { modelName, alias } : { modelName };
    return this.moves.find(filter, { _id: 0 }).sort({ changedAt: -1, version: -1 }).lean<AliasMoveRecord[]>();
  }

  /**
   * Records a move, then points the alias at it. Replay-safe without transactions: the move is keyed by
   * (model, alias, version), so a second attempt returns the first record (and its previousVersion), and the alias
   * write is an idempotent upsert.
   */
  async move(move: AliasMoveRecord): Promise<AliasMoveRecord> {
    let recorded = move;
    try {
      await this.moves.create(move);
    } catch (error) {
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      recorded = (await this.findMove(move.modelName, move.alias, move.version)) ?? move;
    }
    await this.point(recorded.modelName, recorded.alias, recorded.version);
    return recorded;
  }

  /** Upserts the alias to a version. */
  async point(modelName: string, alias: string, version: number): Promise<void> {
    await this.aliases.updateOne({ modelName, alias }, { $set: { version, updatedAt: new Date() } }, { upsert: true });
  }
}
