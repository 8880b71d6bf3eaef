import { Injectable } from '@nestjs/common';
import { type ColumnType, datasetSchema } from '@keel/contracts';
import { type LeaseScope, type Versioned } from '@keel/coordination';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { DatasetVersionsService, type EncodedRows } from '../datasets/dataset-versions.service';
import { type Watermark } from './postgres-reader';
import { type SourceFile, type SourceRun, type SourceState, SourceStateRepository } from './source-state.repository';

/** The columns rows are encoded with under the pipeline's spec now (what a version written without others says). */
function encodedColumns(pipeline: StoredPipelineSpec): { name: string; type: ColumnType }[] {
  return datasetSchema(pipeline.spec).map(({ name, type }) => ({ name, type }));
}

/** A version about to be written from rows that cannot be read again as they were (an API's pages, a file). */
export interface ContentChunk {
  encoded: (EncodedRows & { sha256: string }) | null;
  /** Rows read, including those the checks refused (a chunk of refused rows only still moves the watermark). */
  from: Watermark | null;
  to: Watermark | null;
  lineage: string;
  file?: SourceFile;
}

/**
 * Exactly-once for sources whose rows cannot be re-read as they were: the plan names the version's content before
 * anything is written, then the version is written, then (for a file) the file is marked taken, then the watermark
 * moves and the plan is cleared. A pull that dies anywhere leaves a plan that the next pull settles by the content:
 * found in the object store, the version is finished; not found, nothing of it exists and the plan is dropped.
 */
@Injectable()
export class ContentPlans {
  constructor(
    private readonly states: SourceStateRepository,
    private readonly versions: DatasetVersionsService,
  ) {}

  /** Settles a plan an earlier pull left; the state after it. */
  async settle(
    pipeline: StoredPipelineSpec,
    sourceId: string,
    current: Versioned<SourceState>,
    run: SourceRun,
    lineage: (planned: NonNullable<SourceState['planned']>) => string,
  ): Promise<Versioned<SourceState>> {
    const planned = current.state.planned;
    if (!planned) return current;
    // The lineage the plan was made with (a spec changed since, its cleaning say, did not make these bytes).
    const named = planned.lineage ?? lineage(planned);
    if (planned.sha256 === undefined || planned.rowCount === undefined) {
      // Refused rows only: nothing to write, the watermark moves.
      return this.commit(pipeline, sourceId, current, run, { encoded: null, ...planned, lineage: named });
    }
    // Labelled with the columns the bytes were encoded with (the spec may have changed since the plan was made).
    const version = await this.versions.writeStored(
      pipeline,
      planned.sha256,
      planned.rowCount,
      [named],
      planned.columns,
    );
    if (!version) {
      return this.states.advance(pipeline.spec.id, sourceId, current, { ...current.state, planned: null });
    }
    if (planned.file) {
      await this.states.markTaken(pipeline.spec.id, sourceId, planned.file, {
        datasetVersionId: version.datasetVersionId,
      });
    }
    return this.committed(pipeline, sourceId, current, run, version.datasetVersionId, planned.rowCount, planned.to);
  }

  /** Plans, writes and commits one chunk; the state after it. */
  async write(
    pipeline: StoredPipelineSpec,
    sourceId: string,
    current: Versioned<SourceState>,
    run: SourceRun,
    chunk: ContentChunk,
    scope: LeaseScope,
  ): Promise<Versioned<SourceState>> {
    scope.assertHeld();
    const planned = await this.states.advance(pipeline.spec.id, sourceId, current, {
      ...current.state,
      planned: {
        from: chunk.from,
        to: chunk.to,
        runId: run._id,
        lineage: chunk.lineage,
        ...(chunk.encoded
          ? {
              sha256: chunk.encoded.sha256,
              rowCount: chunk.encoded.rowCount,
              columns: chunk.encoded.columns ?? encodedColumns(pipeline),
            }
          : {}),
        ...(chunk.file ? { file: chunk.file } : {}),
      },
    });
    scope.assertHeld();
    return this.commit(pipeline, sourceId, planned, run, chunk);
  }

  private async commit(
    pipeline: StoredPipelineSpec,
    sourceId: string,
    current: Versioned<SourceState>,
    run: SourceRun,
    chunk: ContentChunk,
  ): Promise<Versioned<SourceState>> {
    let datasetVersionId: string | null = null;
    if (chunk.encoded) {
      const { parquet, rowCount } = chunk.encoded;
      datasetVersionId = (await this.versions.write(pipeline, { parquet, rowCount }, [chunk.lineage])).datasetVersionId;
    }
    if (chunk.file) {
      await this.states.markTaken(pipeline.spec.id, sourceId, chunk.file, { datasetVersionId });
    }
    return this.committed(pipeline, sourceId, current, run, datasetVersionId, chunk.encoded?.rowCount ?? 0, chunk.to);
  }

  private async committed(
    pipeline: StoredPipelineSpec,
    sourceId: string,
    current: Versioned<SourceState>,
    run: SourceRun,
    datasetVersionId: string | null,
    rowCount: number,
    to: Watermark | null,
  ): Promise<Versioned<SourceState>> {
    if (datasetVersionId && !run.datasetVersionIds.includes(datasetVersionId)) {
      run.datasetVersionIds.push(datasetVersionId);
    }
    const next = await this.states.advance(pipeline.spec.id, sourceId, current, {
      watermark: to ?? current.state.watermark,
      planned: null,
      lastDatasetVersionId: datasetVersionId ?? current.state.lastDatasetVersionId,
      rowsPulled: current.state.rowsPulled + rowCount,
    });
    run.watermarkTo = next.state.watermark;
    await this.states.saveRun(run);
    return next;
  }
}
