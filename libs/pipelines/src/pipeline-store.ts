import { PipelineSpecV1 } from '@keel/contracts';
import { type Connection, type Model, Schema } from 'mongoose';
import { parse as parseYaml } from 'yaml';
import { InvalidPipelineSpecError, UnknownPipelineError } from './errors';

/** One applied version of a pipeline spec. Versions are append-only; the highest is current. */
export interface StoredPipelineSpec {
  pipelineId: string;
  version: number;
  spec: PipelineSpecV1;
  appliedAt: Date;
}

interface PipelineSpecDocument {
  /** `<pipelineId>@<version>`: versions are append-only and unique by construction. */
  _id: string;
  pipelineId: string;
  version: number;
  /** Stored as JSON text: spec keys are free-form (feature names) and must not hit Mongo key restrictions. */
  specJson: string;
  appliedAt: Date;
}

const pipelineSpecSchema = new Schema<PipelineSpecDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    version: { type: Number, required: true },
    specJson: { type: String, required: true },
    appliedAt: { type: Date, required: true },
  },
  { collection: 'pipeline_specs', versionKey: false },
);

/**
 * The current version of each pipeline under `_id: pipelineId`: every service looks specs up per event, so by `_id`
 * alone (see docs/design/repositories.md).
 */
const pipelineHeadSchema = new Schema<PipelineSpecDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    version: { type: Number, required: true },
    specJson: { type: String, required: true },
    appliedAt: { type: Date, required: true },
  },
  { collection: 'pipeline_heads', versionKey: false },
);

/** Parses and validates a spec given as YAML or JSON text, or as an already parsed object. */
export function parsePipelineSpec(input: string | unknown): PipelineSpecV1 {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = parseYaml(input);
    } catch (error) {
      throw new InvalidPipelineSpecError([`not valid YAML or JSON: ${(error as Error).message}`]);
    }
  }
  const parsed = PipelineSpecV1.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidPipelineSpecError(
      parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

const DUPLICATE_KEY = 11000;

/**
 * Pipeline specs in MongoDB: an append-only history (`pipeline_specs`) and the current version of each pipeline
 * (`pipeline_heads`). Every service reads specs from here; only the registry's API writes them. Reads are cached
 * briefly: specs change rarely and consumers look them up per event.
 */
export class PipelineStore {
  private readonly history: Model<PipelineSpecDocument>;
  private readonly heads: Model<PipelineSpecDocument>;
  private readonly cache = new Map<string, { value: StoredPipelineSpec; until: number }>();

  constructor(
    connection: Connection,
    private readonly cacheMs = 2_000,
  ) {
    this.history =
      (connection.models.PipelineSpec as Model<PipelineSpecDocument> | undefined) ??
      connection.model<PipelineSpecDocument>('PipelineSpec', pipelineSpecSchema);
    this.heads =
      (connection.models.PipelineHead as Model<PipelineSpecDocument> | undefined) ??
      connection.model<PipelineSpecDocument>('PipelineHead', pipelineHeadSchema);
  }

  /** Nothing to index beyond `_id`; kept so callers need not know. */
  async init(): Promise<void> {
    await Promise.all(
      [this.history.createCollection(), this.heads.createCollection()].map((p) => p.catch(() => undefined)),
    );
  }

  /** Applies a spec: a new version when it differs from the current one, otherwise the current version. */
  async apply(spec: PipelineSpecV1): Promise<{ stored: StoredPipelineSpec; created: boolean }> {
    const specJson = JSON.stringify(spec);
    for (let attempt = 0; attempt < 5; attempt++) {
      const head = await this.heads.findOne({ _id: spec.id }).lean();
      if (head && head.specJson === specJson) return { stored: toStored(head), created: false };
      const version = (head?.version ?? 0) + 1;
      const document = { _id: `${spec.id}@${version}`, pipelineId: spec.id, version, specJson, appliedAt: new Date() };
      try {
        // History first: a crash before the head moves leaves a version that the next apply simply supersedes.
        await this.history.create(document);
        if (head) {
          const moved = await this.heads.replaceOne(
            { _id: spec.id, version: head.version },
            { ...document, _id: spec.id },
          );
          if (moved.modifiedCount === 0) continue;
        } else {
          await this.heads.create({ ...document, _id: spec.id });
        }
        this.cache.delete(spec.id);
        return { stored: toStored(document), created: true };
      } catch (error) {
        // A concurrent apply took this version number; read again and retry.
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      }
    }
    throw new Error(`could not apply pipeline ${spec.id}: too many concurrent updates`);
  }

  /** Current spec, or UnknownPipelineError (non-retryable: the event goes to the dead-letter topic). */
  async get(pipelineId: string): Promise<StoredPipelineSpec> {
    const cached = this.cache.get(pipelineId);
    if (cached && cached.until > Date.now()) return cached.value;
    const head = await this.heads.findOne({ _id: pipelineId }).lean();
    if (!head) throw new UnknownPipelineError(pipelineId);
    const value = toStored(head);
    this.cache.set(pipelineId, { value, until: Date.now() + this.cacheMs });
    return value;
  }

  async list(): Promise<StoredPipelineSpec[]> {
    const heads = await this.heads.find().sort({ _id: 1 }).lean();
    return heads.map(toStored);
  }
}

function toStored(document: PipelineSpecDocument): StoredPipelineSpec {
  return {
    pipelineId: document.pipelineId,
    version: document.version,
    spec: PipelineSpecV1.parse(JSON.parse(document.specJson)),
    appliedAt: document.appliedAt,
  };
}
