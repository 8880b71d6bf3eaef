import { Injectable } from '@nestjs/common';
import { describeCleaning, fileFormatOf, type ObjectStoreSource } from '@keel/contracts';
import { type LeaseScope, type Versioned } from '@keel/coordination';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { sha256Of } from '../datasets/dataset-versions.service';
import { FileNotIngested, UploadsService } from '../uploads/uploads.service';
import { addDropped, noneDropped } from '../cleaning/row-cleaning';
import { ContentPlans } from './content-plans';
import { fromSource } from './pull-failures';
import { type SourceFile, type SourceRun, type SourceState, SourceStateRepository } from './source-state.repository';

/** Rejection reasons kept per run. */
const MAX_REJECTIONS = 20;
/** Keys of skipped objects named per run (all are counted). */
const MAX_SKIPPED_NAMED = 5;

interface ListedObject extends SourceFile {
  lastModified: Date;
}

/**
 * Pulls an object-store prefix: each CSV, Parquet or JSON Lines file under it that the source has not taken yet
 * becomes one dataset version, oldest first, parsed exactly as an upload of that file would be. A file is taken once
 * (`source_files`, by key): into a version, or refused with its reason (a malformed file or one with rows the spec
 * refuses, all or nothing as an upload); a file written again under a taken key is not taken again.
 */
@Injectable()
export class ObjectStoreSourcePuller {
  constructor(
    private readonly infra: Infrastructure,
    private readonly plans: ContentPlans,
    private readonly states: SourceStateRepository,
    private readonly uploads: UploadsService,
  ) {}

  async pull(
    pipeline: StoredPipelineSpec,
    source: ObjectStoreSource,
    current: Versioned<SourceState>,
    run: SourceRun,
    scope: LeaseScope,
    signal: AbortSignal,
  ): Promise<Versioned<SourceState>> {
    const pipelineId = pipeline.spec.id;
    const cleaned = describeCleaning(source.cleaning);
    const lineage = (key: string) =>
      `object-store:${source.id}:s3://${source.bucket}/${key}` + (cleaned ? ` ${cleaned}` : '');
    current = await this.plans.settle(pipeline, source.id, current, run, (planned) => lineage(planned.file?.key ?? ''));
    run.filesTaken = 0;
    run.filesRefused = 0;
    if (source.cleaning) run.rowsDropped = noneDropped();
    const objects = await fromSource(this.list(source));
    const listed = objects.filter((file) => fileFormatOf(file.key) !== undefined);
    // Skipped every pull while they are there: said in each run, since nothing else would show them (a folder's
    // marker object is no file).
    const skipped = objects.filter((file) => fileFormatOf(file.key) === undefined && !file.key.endsWith('/'));
    run.filesSkipped = skipped.length;
    run.skipped = skipped
      .slice(0, MAX_SKIPPED_NAMED)
      .map((file) => `${file.key}: not a CSV, Parquet or JSON Lines file (.csv, .jsonl, .ndjson, .parquet)`);
    const taken = await this.states.takenKeys(
      pipelineId,
      source.id,
      listed.map((file) => file.key),
    );
    const fresh = listed
      .filter((file) => !taken.has(file.key))
      .sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || (a.key < b.key ? -1 : 1))
      .slice(0, source.maxFilesPerPull);
    for (const { lastModified: _, ...file } of fresh) {
      signal.throwIfAborted();
      scope.assertHeld();
      const format = fileFormatOf(file.key)!;
      const body = await fromSource(this.infra.objects.client.getObject(source.bucket, file.key));
      let encoded;
      try {
        encoded = await this.uploads.encode(pipeline, format, body, undefined, source.cleaning);
      } catch (error) {
        body.destroy();
        if (!(error instanceof FileNotIngested)) throw error;
        const { outcome } = error;
        if (outcome.kind === 'no-rows' && outcome.dropped && outcome.rowsRead > 0) {
          // Every row dropped by the cleaning: the file is taken, into no version, its rows counted as dropped.
          run.rowsRead += outcome.rowsRead;
          addDropped(run, outcome.dropped);
          await this.states.markTaken(pipelineId, source.id, file, { datasetVersionId: null });
          run.filesTaken++;
          await this.states.saveRun(run);
          continue;
        }
        run.filesRefused++;
        if (outcome.kind === 'rejected') {
          run.rowsRead += outcome.rowCount;
          run.rowsRejected += outcome.badCount;
          addDropped(run, outcome.dropped);
        }
        const reason = `${file.key}: ${error.message}`;
        if (run.rejections.length < MAX_REJECTIONS) run.rejections.push(reason);
        await this.states.markTaken(pipelineId, source.id, file, { datasetVersionId: null, refused: error.message });
        await this.states.saveRun(run);
        continue;
      }
      run.rowsRead += encoded.rowsRead;
      addDropped(run, encoded.dropped);
      const chunk = {
        encoded: { parquet: encoded.parquet, rowCount: encoded.rowCount, sha256: sha256Of(encoded.parquet) },
        from: null,
        to: null,
        lineage: lineage(file.key),
        file,
      };
      current = await this.plans.write(pipeline, source.id, current, run, chunk, scope);
      run.filesTaken++;
    }
    return current;
  }

  /** Every object under the prefix. */
  private async list(source: ObjectStoreSource): Promise<ListedObject[]> {
    const files: ListedObject[] = [];
    const stream = this.infra.objects.client.listObjectsV2(source.bucket, source.prefix, true);
    for await (const item of stream as AsyncIterable<{
      name?: string;
      etag?: string;
      size?: number;
      lastModified?: Date;
    }>) {
      if (!item.name) continue; // a common prefix, not an object
      files.push({
        key: item.name,
        etag: item.etag ?? '',
        sizeBytes: item.size ?? 0,
        lastModified: item.lastModified ?? new Date(0),
      });
    }
    return files;
  }
}
