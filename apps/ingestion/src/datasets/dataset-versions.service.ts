import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { type ColumnType, DatasetIngestedV1, datasetSchema, derivedId, type EventData } from '@keel/contracts';
import { tableFromRecords } from '@keel/datasets';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { BUCKETS, formatObjectUri, type StoredObject } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer } from '@keel/workers';
import { type CleanRecord } from '../records/record-checks';
import { cutEncodeTask } from '../staging/cut-encode.task';
import { StagingThread } from '../staging/staging-thread';
import { type StagedPayload } from '../staging/staging.repository';
import { datasetParquet } from './dataset-parquet';
import { type DatasetVersion, DatasetsRepository, type HeadDocument } from './datasets.repository';

type DatasetIngested = EventData<typeof DatasetIngestedV1>;

/** The sha256 (hex) that names a version's bytes. */
export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A dataset version of a pipeline is its content: the same bytes for the same pipeline are one version. */
export function datasetVersionId(pipelineId: string, sha256: string): string {
  return derivedId('ds', [pipelineId, sha256]);
}

/**
 * The announcement of a version under the spec version ingestion applied: validation and what follows depend on the
 * spec, so the same content sent again after a spec change goes through the pipeline again, while a repeat under the
 * same spec is one event.
 */
export function datasetIngestedEventId(datasetVersionId: string, specVersion: number): string {
  return `dataset-ingested-${datasetVersionId}-spec${specVersion}`;
}

/** A version's rows already encoded by {@link datasetParquet} (a CSV upload encodes on a worker thread). */
export interface EncodedRows {
  parquet: Buffer;
  rowCount: number;
  /** The columns the bytes were encoded with, when not the pipeline's dataset schema now (a version finished later). */
  columns?: DatasetColumns;
  /** Where {@link DatasetVersionsService.store} put the bytes already (a pull stores a chunk while the one before commits). */
  stored?: StoredObject;
}

type DatasetColumns = { name: string; type: ColumnType }[];

/** How dataset versions' bytes are stored. */
const STORED_AS = { extension: '.parquet', contentType: 'application/vnd.apache.parquet' };

/**
 * Turns checked records into a dataset version: Parquet in object storage (content-addressed), a `datasets`
 * document, and a dataset.ingested event. The one path for both staged Kafka records and CSV uploads.
 */
@Injectable()
export class DatasetVersionsService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly datasets: DatasetsRepository,
    private readonly thread: StagingThread,
  ) {}

  /** Compiles the encoding thread's modules (seconds) at start-up rather than in the first cut. */
  async warmEncoder(): Promise<void> {
    await this.thread.pool.warm(cutEncodeTask);
  }

  /**
   * The Parquet of staged payloads (in their order) as {@link write} stores them, encoded on a worker thread; null
   * when they hold no rows (every record of their events was dead-lettered).
   */
  async encodeStaged(
    pipeline: StoredPipelineSpec,
    payloads: StagedPayload[],
  ): Promise<(EncodedRows & { sha256: string; columns: DatasetColumns }) | null> {
    const { spec } = pipeline;
    const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
    const encoded = await this.thread.pool.run(
      cutEncodeTask,
      { pipelineId: spec.id, schema, payloads },
      { attributes: { [KeelAttr.PIPELINE_ID]: spec.id } },
    );
    if (encoded.rowCount === 0) return null;
    return { parquet: asBuffer(encoded.parquet), rowCount: encoded.rowCount, sha256: encoded.sha256, columns: schema };
  }

  /** The Parquet of checked records as {@link write} stores them, and its sha256 (which names the version). */
  encode(pipeline: StoredPipelineSpec, records: readonly CleanRecord[]): EncodedRows & { sha256: string } {
    const { spec } = pipeline;
    const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
    const parquet = datasetParquet(spec, tableFromRecords(records, schema));
    return { parquet, rowCount: records.length, sha256: sha256Of(parquet) };
  }

  /**
   * Writes (again) the version a plan recorded as stored under `sha256`, repairing whatever of it a crash left undone:
   * when its document exists, its head and event are made sure of (one `_id` read, nothing downloaded); else it is
   * written from its stored bytes, verified, labelled with `columns`, those the bytes were encoded with when the plan
   * recorded them (the spec may have changed since; the dataset schema now when not given). Null when the bytes never
   * reached the object store (so nothing of that version exists); IntegrityError or ObjectTooLargeError (libs/storage)
   * when they cannot be read back as they are.
   */
  async writeStored(
    pipeline: StoredPipelineSpec,
    sha256: string,
    rowCount: number,
    sources: readonly string[],
    columns?: DatasetColumns,
  ): Promise<DatasetVersion | null> {
    const written = await this.datasets.get(datasetVersionId(pipeline.spec.id, sha256));
    if (written) {
      await this.announce(pipeline, written);
      return written;
    }
    const location = this.storedLocation(pipeline, sha256);
    if (!(await this.infra.objects.exists(location))) return null;
    const parquet = await this.infra.objects.getVerified({ uri: formatObjectUri(location), sha256 });
    return this.write(pipeline, { parquet, rowCount, columns }, sources);
  }

  /**
   * Puts a version's bytes where {@link write} puts them, ahead of writing it: content-addressed, so bytes no version
   * ends up naming (the writer died first) are harmless, and a write of the same bytes finds them there.
   */
  async store(pipeline: StoredPipelineSpec, parquet: Buffer): Promise<StoredObject> {
    return this.infra.objects.putContentAddressed(BUCKETS.datasets, pipeline.spec.id, parquet, STORED_AS);
  }

  /**
   * Removes a recorded version's stored bytes that fail verification, so that encoding its rows again stores them
   * afresh (a content-addressed put keeps an object already at its key). Only for bytes no document names.
   */
  async discardStored(pipeline: StoredPipelineSpec, sha256: string): Promise<void> {
    const { bucket, key } = this.storedLocation(pipeline, sha256);
    await this.infra.objects.client.removeObject(bucket, key);
  }

  private storedLocation(pipeline: StoredPipelineSpec, sha256: string) {
    return { bucket: BUCKETS.datasets, key: `${pipeline.spec.id}/${sha256}.parquet` };
  }

  /**
   * Writes a version and announces it. Every step is idempotent (same pipeline and records ⇒ same bytes ⇒ same
   * sha256, key, id, document and event id), so a crash anywhere is repaired by doing it all again.
   */
  async write(
    pipeline: StoredPipelineSpec,
    records: readonly CleanRecord[] | EncodedRows,
    sources: readonly string[],
  ): Promise<DatasetVersion> {
    const { spec } = pipeline;
    const rowCount = 'parquet' in records ? records.rowCount : records.length;
    return withSpan(
      'write dataset version',
      { [KeelAttr.PIPELINE_ID]: spec.id, [KeelAttr.DATASET_ROWS]: rowCount },
      async (span) => {
        const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
        const bytes = 'parquet' in records ? records.parquet : datasetParquet(spec, tableFromRecords(records, schema));
        const columns = ('parquet' in records ? records.columns : undefined) ?? schema;
        const ahead = 'parquet' in records ? records.stored : undefined;
        // Bytes stored ahead name the version: they must be these bytes (a cheap check of the caller's pairing).
        if (ahead && ahead.sizeBytes !== bytes.length)
          throw new Error(
            `the bytes stored at ${ahead.uri} are not the version's (${ahead.sizeBytes} ≠ ${bytes.length})`,
          );
        const stored =
          ahead ?? (await this.infra.objects.putContentAddressed(BUCKETS.datasets, spec.id, bytes, STORED_AS));
        const id = datasetVersionId(spec.id, stored.sha256);
        // The parent and its sequence come from the head (one `_id` read; a head written before heads carried the
        // sequence costs a read of the parent). The upsert keeps a version written before as it was, and reads it
        // back only then: a new version costs three document writes and reads, not eight.
        const head = await this.datasets.head(spec.id);
        const parent =
          head === null
            ? await this.datasets.latest(spec.id)
            : head.sequence === undefined
              ? await this.datasets.get(head.datasetVersionId)
              : { datasetVersionId: head.datasetVersionId, sequence: head.sequence };
        const version = await this.datasets.upsert({
          datasetVersionId: id,
          pipelineId: spec.id,
          uri: stored.uri,
          sha256: stored.sha256,
          sizeBytes: stored.sizeBytes,
          format: 'parquet',
          rowCount,
          columns,
          sources: [...sources],
          ...(parent && parent.datasetVersionId !== id ? { parentVersionId: parent.datasetVersionId } : {}),
          sequence: (parent?.sequence ?? 0) + 1,
          createdAt: new Date(),
        });
        span.setAttribute(KeelAttr.DATASET_VERSION, version.datasetVersionId);
        // Also after a crash that left the version without its head or event: the retry finds it and repairs it.
        await this.announce(pipeline, version, head);
        return version;
      },
    );
  }

  /**
   * The version an interrupted PostgreSQL pull wrote for its planned range, its head and event made sure of (a crash
   * may have cut its write short after the document); null when none was stored. A plan records the version's id
   * before the version is written, so it is one `_id` read, and an encoder changed since (an upgrade mid-pull) writes
   * no second version of the same rows. A plan recording no id was made by this code before its version was written
   * (nothing to find) or by a build before plans recorded ids: only then is the version looked for by the lineage
   * naming the range, a scan of the pipeline's versions on FerretDB, once, after such an upgrade.
   */
  async findWritten(
    pipeline: StoredPipelineSpec,
    planned: { datasetVersionId?: string; lineage?: string },
    derivedLineage: string,
  ): Promise<DatasetVersion | null> {
    let version: DatasetVersion | null = null;
    if (planned.datasetVersionId !== undefined) version = await this.datasets.get(planned.datasetVersionId);
    else if (planned.lineage === undefined)
      version = await this.datasets.findBySource(pipeline.spec.id, derivedLineage);
    if (version) await this.announce(pipeline, version);
    return version;
  }

  /** Makes a stored version the pipeline's head (unless a newer one is) and publishes its event; idempotent. */
  private async announce(
    pipeline: StoredPipelineSpec,
    version: DatasetVersion,
    head?: HeadDocument | null,
  ): Promise<void> {
    await this.datasets.advanceHead(version, head);
    await this.infra.publisher.publish(DatasetIngestedV1, toEvent(version), {
      id: datasetIngestedEventId(version.datasetVersionId, pipeline.version),
    });
  }
}

function toEvent(version: DatasetVersion): DatasetIngested {
  return {
    pipelineId: version.pipelineId as DatasetIngested['pipelineId'],
    datasetVersionId: version.datasetVersionId as DatasetIngested['datasetVersionId'],
    uri: version.uri,
    sha256: version.sha256,
    sizeBytes: version.sizeBytes,
    format: version.format,
    rowCount: version.rowCount,
    columns: version.columns.map(({ name, type }) => ({ name, type })),
    sources: version.sources,
    ...(version.parentVersionId
      ? { parentVersionId: version.parentVersionId as DatasetIngested['datasetVersionId'] }
      : {}),
    ...(version.sequence === undefined ? {} : { sequence: version.sequence }),
  };
}
