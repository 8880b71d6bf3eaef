import { Injectable, type OnModuleInit } from '@nestjs/common';
import { mongoKeyedTable, type Versioned, VersionedDocuments } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';
import { type Watermark } from './postgres-reader';

/**
 * Where a source's pulls stand. `watermark` is committed only together with the dataset version that holds the rows
 * up to it; `planned` names the chunk being written (rows past `from` up to `to`) before anything is written, so a
 * pull that dies mid-chunk is finished by the next pull with the same rows (the same content, so the same version).
 */
export interface SourceState extends Record<string, unknown> {
  watermark: Watermark | null;
  planned: { from: Watermark | null; to: Watermark; runId: string } | null;
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

  private get runs() {
    return this.infra.mongo.collection<SourceRun>('source_runs');
  }

  async onModuleInit(): Promise<void> {
    await this.runs.createIndex({ pipelineId: 1, sourceId: 1, startedAt: -1 });
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
}
