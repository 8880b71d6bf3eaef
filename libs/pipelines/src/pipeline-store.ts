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
  pipelineId: string;
  version: number;
  /** Stored as JSON text: spec keys are free-form (feature names) and must not hit Mongo key restrictions. */
  specJson: string;
  appliedAt: Date;
}

const pipelineSpecSchema = new Schema<PipelineSpecDocument>(
  {
    pipelineId: { type: String, required: true },
    version: { type: Number, required: true },
    specJson: { type: String, required: true },
    appliedAt: { type: Date, required: true },
  },
  { collection: 'pipeline_specs', versionKey: false },
);
pipelineSpecSchema.index({ pipelineId: 1, version: 1 }, { unique: true });

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
 * Pipeline specs in MongoDB. Every service reads specs from here; only the registry's API writes them. Reads are
 * cached briefly: specs change rarely and consumers look them up per event.
 */
export class PipelineStore {
  private readonly model: Model<PipelineSpecDocument>;
  private readonly cache = new Map<string, { value: StoredPipelineSpec; until: number }>();

  constructor(
    connection: Connection,
    private readonly cacheMs = 2_000,
  ) {
    this.model =
      (connection.models.PipelineSpec as Model<PipelineSpecDocument> | undefined) ??
      connection.model<PipelineSpecDocument>('PipelineSpec', pipelineSpecSchema);
  }

  async init(): Promise<void> {
    await this.model.createIndexes();
  }

  /** Applies a spec: a new version when it differs from the current one, otherwise the current version. */
  async apply(spec: PipelineSpecV1): Promise<{ stored: StoredPipelineSpec; created: boolean }> {
    const specJson = JSON.stringify(spec);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.model.findOne({ pipelineId: spec.id }).sort({ version: -1 }).lean();
      if (current && current.specJson === specJson) return { stored: toStored(current), created: false };
      const document = { pipelineId: spec.id, version: (current?.version ?? 0) + 1, specJson, appliedAt: new Date() };
      try {
        await this.model.create(document);
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
    const current = await this.model.findOne({ pipelineId }).sort({ version: -1 }).lean();
    if (!current) throw new UnknownPipelineError(pipelineId);
    const value = toStored(current);
    this.cache.set(pipelineId, { value, until: Date.now() + this.cacheMs });
    return value;
  }

  async list(): Promise<StoredPipelineSpec[]> {
    const ids = (await this.model.distinct('pipelineId')) as string[];
    return Promise.all(ids.sort().map((id) => this.get(id)));
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
