import {
  checkJsonDepth,
  checkValueCount,
  checkValueDepth,
  checkYamlBlockDepth,
  DEFAULT_MAX_DEPTH,
  DocumentTooDeepError,
  DocumentTooLargeError,
  isFeatureTable,
  parseAnyPipelineSpec,
  PIPELINE_SPEC_MAX_VALUES,
  type PipelineSpec,
  type PipelineSpecV1,
  safeParsePipelineSpec,
} from '@keel/contracts';
import { mongoKeyedTable, type Versioned, VersionedDocuments } from '@keel/coordination';
import { type Connection, type Model, Schema } from 'mongoose';
import { parse as parseYaml } from 'yaml';
import { InvalidPipelineSpecError, NotAModelPipelineError, UnknownPipelineError } from './errors';

/** One applied version of a pipeline spec. Versions are append-only; the highest is current. */
export interface StoredPipelineSpec {
  pipelineId: string;
  version: number;
  /** A model pipeline (`kind: Pipeline`) or a feature table (`kind: FeatureTable`, no model): see isFeatureTable. */
  spec: PipelineSpec;
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

/**
 * Parses and validates a spec given as YAML or JSON text, or as an already parsed object. Documents nesting deeper
 * than `maxDepth` (JSON_MAX_DEPTH) or holding more than PIPELINE_SPEC_MAX_VALUES values are refused before
 * validation; YAML aliases are capped by the parser (100). YAML text costs about 1 ms per KiB to parse: the registry
 * parses text on a worker thread (`parsePipelineSpecTask`), never on its event loop. Either kind: a model pipeline
 * (`kind: Pipeline`) or a feature table (`kind: FeatureTable`).
 */
export function parseSpecDocument(input: string | unknown, maxDepth = DEFAULT_MAX_DEPTH): PipelineSpec {
  return validateSpecDocument(readSpecDocument(input, maxDepth));
}

/** Validates a document readSpecDocument read (a string is a string here, not text to parse). */
export function validateSpecDocument(raw: unknown): PipelineSpec {
  const parsed = safeParsePipelineSpec(raw);
  if (!parsed.success) {
    throw new InvalidPipelineSpecError(
      parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

/**
 * A spec document as a value, not yet validated: YAML or JSON text parsed, or the value itself, bounded as
 * parseSpecDocument bounds it (InvalidPipelineSpecError otherwise). What a caller checking the document beyond the
 * schema reads (the registry: keys the schema's objects would drop), then gives to validateSpecDocument.
 */
export function readSpecDocument(input: string | unknown, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  let raw: unknown = input;
  try {
    if (typeof input === 'string') {
      // Flow collections ([ and {) nest without indentation: bounded before the parser recurses into them.
      checkJsonDepth(input, maxDepth);
      checkYamlBlockDepth(input, maxDepth);
      // Warnings about untrusted text are the caller's to read in the error, not the process's to print.
      raw = parseYaml(input, { logLevel: 'error' });
    }
    checkValueDepth(raw, maxDepth);
    checkValueCount(raw, PIPELINE_SPEC_MAX_VALUES, 'PIPELINE_SPEC_MAX_VALUES');
  } catch (error) {
    if (error instanceof DocumentTooDeepError || error instanceof DocumentTooLargeError) {
      throw new InvalidPipelineSpecError([error.message]);
    }
    throw new InvalidPipelineSpecError([`not valid YAML or JSON: ${(error as Error).message}`]);
  }
  return raw;
}

/** As parseSpecDocument, for a model pipeline only: a feature table (`kind: FeatureTable`) is refused, naming kind. */
export function parsePipelineSpec(input: string | unknown, maxDepth = DEFAULT_MAX_DEPTH): PipelineSpecV1 {
  const spec = parseSpecDocument(input, maxDepth);
  if (isFeatureTable(spec))
    throw new InvalidPipelineSpecError(['kind: a FeatureTable, where a model pipeline is needed']);
  return spec;
}

/** How fresh a spec read must be. */
export interface SpecReadOptions {
  /** A cached copy of an older version is not used (the stored head is read). */
  minVersion?: number;
}

/** A pipeline's state as its revisions (`pipeline_specs`) and head (`pipeline_heads`) hold it, beside `version`. */
type PipelineState = Omit<PipelineSpecDocument, '_id' | 'version'>;

/**
 * Pipeline specs in MongoDB: an append-only history (`pipeline_specs`, `<pipelineId>@<version>`) and the current
 * version of each pipeline (`pipeline_heads`). A version is claimed by inserting its history document, so of two
 * registries applying at once exactly one gets each version number; the head is the hint readers start from
 * (`VersionedDocuments`, docs/design/repositories.md rule 2). Every service reads specs from here; only the
 * registry's API writes them. Reads are cached briefly: specs change rarely and consumers look them up per event.
 */
export class PipelineStore {
  private readonly history: Model<PipelineSpecDocument>;
  private readonly heads: Model<PipelineSpecDocument>;
  private readonly versions: VersionedDocuments<PipelineState>;
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
    this.versions = new VersionedDocuments<PipelineState>({
      revisions: mongoKeyedTable(connection, this.history.collection.collectionName),
      heads: mongoKeyedTable(connection, this.heads.collection.collectionName),
    });
  }

  /** Nothing to index beyond `_id`; kept so callers need not know. */
  async init(): Promise<void> {
    await Promise.all(
      [this.history.createCollection(), this.heads.createCollection()].map((p) => p.catch(() => undefined)),
    );
  }

  /**
   * Applies a spec: a new version when it differs from the current one, otherwise the current version. Both are
   * compared in their canonical form (read through the current schema, then written out), so a spec stored by an
   * earlier build, or read back and re-applied, is not a new version for a difference of key order or defaults. A
   * pipeline keeps its kind, checked inside the compare-and-set: of two first applies of one id as two kinds, the
   * second is refused (InvalidPipelineSpecError), never stored as the other kind's next version.
   */
  async apply(spec: PipelineSpec): Promise<{ stored: StoredPipelineSpec; created: boolean }> {
    const specJson = JSON.stringify(spec);
    const canonical = canonicalSpecJson(specJson);
    const { current, changed } = await this.versions.update(spec.id, (latest) => {
      if (latest) {
        const stored = parseAnyPipelineSpec(JSON.parse(latest.state.specJson));
        if (stored.kind !== spec.kind) {
          throw new InvalidPipelineSpecError([
            `kind: pipeline "${spec.id}" is a ${stored.kind}; a ${spec.kind} of the same id is refused (apply it under a new id)`,
          ]);
        }
        if (JSON.stringify(stored) === canonical) return null;
      }
      return { pipelineId: spec.id, specJson, appliedAt: new Date() };
    });
    if (changed) this.cache.delete(spec.id);
    return { stored: toStored(current!), created: changed };
  }

  /**
   * Current spec, or UnknownPipelineError (non-retryable: the event goes to the dead-letter topic). With `minVersion`
   * (a version another service saw, e.g. in a training request), a cached copy older than it is not used: the stored
   * head is read, which the caller may still find older (then it retries).
   */
  async get(pipelineId: string, options: SpecReadOptions = {}): Promise<StoredPipelineSpec> {
    const cached = this.cache.get(pipelineId);
    if (cached && cached.until > Date.now() && cached.value.version >= (options.minVersion ?? 0)) return cached.value;
    const latest = await this.versions.read(pipelineId);
    if (!latest) throw new UnknownPipelineError(pipelineId);
    const value = toStored(latest);
    this.cache.set(pipelineId, { value, until: Date.now() + this.cacheMs });
    return value;
  }

  /**
   * Current spec of a model pipeline, for what only models have (training, registration, rollouts, monitoring of
   * predictions); NotAModelPipelineError (non-retryable) for a feature table.
   */
  async getModelPipeline(
    pipelineId: string,
    options: SpecReadOptions = {},
  ): Promise<StoredPipelineSpec & { spec: PipelineSpecV1 }> {
    return modelPipelineOf(await this.get(pipelineId, options));
  }

  /** Every pipeline's current spec (an HTTP list: a scan of the heads, each then read as `get` does). */
  async list(): Promise<StoredPipelineSpec[]> {
    const heads = await this.heads.find({}, { _id: 1 }).sort({ _id: 1 }).lean();
    const stored: StoredPipelineSpec[] = [];
    for (const head of heads) {
      const latest = await this.versions.read(head._id);
      if (latest) stored.push(toStored(latest));
    }
    return stored;
  }
}

function toStored({ version, state }: Versioned<PipelineState>): StoredPipelineSpec {
  return {
    pipelineId: state.pipelineId,
    version,
    spec: parseAnyPipelineSpec(JSON.parse(state.specJson)),
    appliedAt: state.appliedAt,
  };
}

/** A spec's JSON as the current schema writes it: keys in schema order, defaults filled. */
function canonicalSpecJson(specJson: string): string {
  return JSON.stringify(parseAnyPipelineSpec(JSON.parse(specJson)));
}

/** The stored spec as a model pipeline's, or NotAModelPipelineError for a feature table. */
export function modelPipelineOf(stored: StoredPipelineSpec): StoredPipelineSpec & { spec: PipelineSpecV1 } {
  if (isFeatureTable(stored.spec)) throw new NotAModelPipelineError(stored.pipelineId);
  return stored as StoredPipelineSpec & { spec: PipelineSpecV1 };
}
