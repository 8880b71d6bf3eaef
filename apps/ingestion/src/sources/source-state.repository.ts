import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type ColumnType } from '@keel/contracts';
import { mongoKeyedTable, type Versioned, VersionedDocuments } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';
import { type Watermark } from './postgres-reader';

/**
 * A chunk being written. PostgreSQL re-reads a planned range (`from`, `to`], and finds the version written for it, if
 * any, by the `datasetVersionId` the plan records before the version is written (not by re-encoding the rows to the
 * same bytes, which an upgraded encoder may make differently). An HTTP API or a file cannot be read again as it was,
 * so their plans name the version's content (`sha256`, `rowCount`) before it is written: a later pull finds those
 * bytes in the object store and finishes the version, or finds none and drops the plan (nothing of it was written,
 * and its rows are still past the watermark). `file` is the object a plan takes.
 */
export interface PlannedChunk extends Record<string, unknown> {
  from: Watermark | null;
  to: Watermark | null;
  runId: string;
  sha256?: string;
  rowCount?: number;
  file?: SourceFile;
  /**
   * The lineage the planned version is written with (plans made before it was kept: derived again); for PostgreSQL,
   * how the next pull finds the version if this one dies between writing it and committing the watermark.
   */
  lineage?: string;
  /**
   * An API's or a file's plan: the columns its bytes were encoded with, so that a later pull finishing the version
   * labels it with those even when the spec has changed since (plans made before they were kept: the schema then).
   */
  columns?: { name: string; type: ColumnType }[];
  /**
   * PostgreSQL: the id of the version about to be written for the range, recorded before it is written (an `_id`
   * read finds it again; FerretDB answers nothing else from an index).
   */
  datasetVersionId?: string;
}

/** An object under an object-store source's prefix. */
export interface SourceFile extends Record<string, unknown> {
  key: string;
  etag: string;
  sizeBytes: number;
}

/** A file an object-store source has taken (`source_files`): into a version, or refused with a reason. */
export interface TakenFile {
  _id: string;
  pipelineId: string;
  sourceId: string;
  key: string;
  etag: string;
  datasetVersionId: string | null;
  refused?: string;
  takenAt: Date;
}

/**
 * Where a source's pulls stand. `watermark` is committed only together with the dataset version that holds the rows
 * up to it; `planned` names the chunk being written (rows past `from` up to `to`) before anything is written, so a
 * pull that dies mid-chunk is finished by the next pull with the same rows (the same content, so the same version).
 */
export interface SourceState extends Record<string, unknown> {
  watermark: Watermark | null;
  planned: PlannedChunk | null;
  lastDatasetVersionId: string | null;
  rowsPulled: number;
}

export const initialSourceState: SourceState = {
  watermark: null,
  planned: null,
  lastDatasetVersionId: null,
  rowsPulled: 0,
};

/** One pull of a source (`source_runs`). */
export interface SourceRun {
  _id: string;
  pipelineId: string;
  sourceId: string;
  trigger: 'api' | 'schedule';
  /** `abandoned`: its process died (the next pull found it running without its lease). */
  status: 'running' | 'succeeded' | 'failed' | 'abandoned';
  startedAt: Date;
  finishedAt?: Date;
  /** Rows read from the source, rows that failed the dataset's checks (left out), and the versions written. */
  rowsRead: number;
  rowsRejected: number;
  rejections: string[];
  datasetVersionIds: string[];
  watermarkFrom: Watermark | null;
  watermarkTo: Watermark | null;
  /** A chunk an earlier pull planned and this one finished. */
  resumed: boolean;
  /** HTTP sources: requests sent, and how many of them were retries (429, 5xx, network failures). */
  requests?: number;
  retries?: number;
  /** Object-store sources: files taken into versions, and files refused (their reasons are in `rejections`). */
  filesTaken?: number;
  filesRefused?: number;
  /**
   * Object-store sources: objects under the prefix that are not a CSV, JSON Lines or Parquet file by name (a
   * `.csv.gz`, a `.tsv`), never read; the first few as `key: why`, so a drop of the wrong kind is not invisible.
   */
  filesSkipped?: number;
  skipped?: string[];
  /**
   * Sources with a declared cleaning: rows its steps dropped, by step (counted in `rowsRead`, never in a version,
   * never silently). A value a cast refused counts in `rowsRejected`, with its reason.
   */
  rowsDropped?: { missing: number; filter: number; dedupe: number };
  /** Refused rows kept in the source's dead letter (PostgreSQL), and where it is listed and replayed. */
  rowsDeadLettered?: number;
  deadLetter?: string;
  error?: string;
}

const sourceKey = (pipelineId: string, sourceId: string) => `${pipelineId}/${sourceId}`;

/**
 * Source states (`source_states`, heads in `source_state_heads`), moved by compare-and-set like the cut log, and the
 * runs of each source (`source_runs`).
 */
@Injectable()
export class SourceStateRepository implements OnModuleInit {
  private readonly states: VersionedDocuments<SourceState>;

  constructor(private readonly infra: Infrastructure) {
    this.states = new VersionedDocuments<SourceState>({
      revisions: mongoKeyedTable(infra.mongo, 'source_states'),
      heads: mongoKeyedTable(infra.mongo, 'source_state_heads'),
      keepStates: 8,
    });
  }

  private get files() {
    return this.infra.mongo.collection<TakenFile>('source_files');
  }

  private get runs() {
    return this.infra.mongo.collection<SourceRun>('source_runs');
  }

  async onModuleInit(): Promise<void> {
    await this.runs.createIndex({ pipelineId: 1, sourceId: 1, startedAt: -1 });
    await this.files.createIndex({ pipelineId: 1, sourceId: 1, takenAt: -1 });
  }

  async read(pipelineId: string, sourceId: string): Promise<Versioned<SourceState>> {
    return (await this.states.read(sourceKey(pipelineId, sourceId))) ?? { version: 0, state: initialSourceState };
  }

  /** Moves the state on from `basedOn`; throws when someone else moved it (a pull without the lease). */
  async advance(
    pipelineId: string,
    sourceId: string,
    basedOn: Versioned<SourceState>,
    state: SourceState,
  ): Promise<Versioned<SourceState>> {
    const moved = await this.states.write(sourceKey(pipelineId, sourceId), basedOn.version, state);
    if (!moved) throw new Error(`the state of source ${sourceKey(pipelineId, sourceId)} changed under its pull`);
    return { version: basedOn.version + 1, state };
  }

  async startRun(run: SourceRun): Promise<void> {
    // Only the lease holder pulls: a run still marked running is one whose process died.
    await this.runs.updateMany(
      { pipelineId: run.pipelineId, sourceId: run.sourceId, status: 'running' },
      { $set: { status: 'abandoned', finishedAt: new Date() } },
    );
    await this.runs.insertOne(run);
  }

  async saveRun(run: SourceRun): Promise<void> {
    const { _id, ...fields } = run;
    await this.runs.updateOne({ _id }, { $set: fields });
  }

  async listRuns(pipelineId: string, sourceId: string, limit = 50): Promise<SourceRun[]> {
    return this.runs.find({ pipelineId, sourceId }).sort({ startedAt: -1 }).limit(limit).toArray();
  }

  /** The keys among `keys` that the source has taken already. */
  async takenKeys(pipelineId: string, sourceId: string, keys: readonly string[]): Promise<Set<string>> {
    const taken = new Set<string>();
    for (let at = 0; at < keys.length; at += 1_000) {
      const ids = keys.slice(at, at + 1_000).map((key) => takenFileId(pipelineId, sourceId, key));
      for (const file of await this.files.find({ _id: { $in: ids } }, { projection: { key: 1 } }).toArray()) {
        taken.add(file.key);
      }
    }
    return taken;
  }

  /** Records a file as taken; idempotent (the first record of a key stands). */
  async markTaken(
    pipelineId: string,
    sourceId: string,
    file: SourceFile,
    outcome: { datasetVersionId: string | null; refused?: string },
  ): Promise<void> {
    const _id = takenFileId(pipelineId, sourceId, file.key);
    await this.files.updateOne(
      { _id },
      {
        $setOnInsert: {
          pipelineId,
          sourceId,
          key: file.key,
          etag: file.etag,
          datasetVersionId: outcome.datasetVersionId,
          ...(outcome.refused ? { refused: outcome.refused } : {}),
          takenAt: new Date(),
        },
      },
      { upsert: true },
    );
  }

  async listTaken(pipelineId: string, sourceId: string, limit = 1_000): Promise<TakenFile[]> {
    return this.files.find({ pipelineId, sourceId }).sort({ takenAt: -1 }).limit(limit).toArray();
  }
}

const takenFileId = (pipelineId: string, sourceId: string, key: string) => `${pipelineId}/${sourceId}/${key}`;
