import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS, ObjectNotFoundError, sha256InKey } from '@keel/storage';
import { type Logger } from 'pino';
import { StreamMetrics } from '../stream/stream.metrics';
import { type PredictionBatch } from '../stream/partition-state';
import { BloomFilter } from './bloom-filter';

/** A prediction-log batch to archive, with its bytes as they arrived (its v2 JSON). */
export interface ArchiveRecord {
  batch: PredictionBatch;
  bytes: Buffer;
}

/** One file of the archive: the rows of one model version that one checkpoint covered. */
export interface ArchivedFile {
  uri: string;
  sha256: string;
  pipelineId: string;
  modelVersion: number;
  rows: number;
}

/** A served prediction as the archive holds it, found by its id (what the label join needs). */
export interface ArchivedPrediction {
  pipelineId: string;
  predictionId: string;
  modelName: string;
  modelVersion: number;
  requestId: string;
  /** Epoch milliseconds. */
  servedAt: number;
  inputs: Record<string, number | string | null>;
  outputs: Record<string, number | string | null>;
}

const ROOT = 'archive';
const FILE_EXTENSION = '.ndjson.gz';
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const MAX_FILE_BYTES = 512 * 1024 * 1024;
const MAX_CACHED_FILTERS = 2_048;

const DAY_MS = 24 * 60 * 60 * 1000;

/** `archive/<pipeline>/<yyyy-mm-dd>/`: lookups list a pipeline's files, retention drops whole days. */
function dayPrefix(pipelineId: string, at: Date): string {
  return `${ROOT}/${pipelineId}/${at.toISOString().slice(0, 10)}`;
}

/**
 * The archive of served predictions, off the hot path: at every checkpoint, the batches applied since the previous
 * one are stored as one file per model version in object storage, content-addressed, with a Bloom filter of its
 * prediction ids beside it. A file is the batches' v2 JSON as it arrived, one batch per line, gzip-compressed (level
 * 1): no re-encoding, so archiving costs about a microsecond per row where a Parquet encoding in JS measured about
 * twelve (more than all the rest of the hot path). The label join finds a prediction by id by listing the
 * pipeline's files, asking their filters, and reading only the files that may hold it. Files are immutable;
 * retention removes whole days.
 */
@Injectable()
export class PredictionArchive {
  private readonly filters = new Map<string, Promise<BloomFilter>>();
  /** Id filters found without their file: skipped by later lookups, reported once each. */
  private readonly orphans = new Set<string>();

  constructor(
    private readonly infra: Infrastructure,
    @Optional() private readonly metrics?: StreamMetrics,
    @Optional() @Inject(ROOT_LOGGER) private readonly logger?: Logger,
  ) {}

  /** Id filters whose file was missing when a lookup needed it (a partly written or partly removed archive). */
  get orphanedFilters(): number {
    return this.orphans.size;
  }

  /** Writes the batches, one file per pipeline and model version; returns the files written. */
  async write(records: readonly ArchiveRecord[], at = new Date()): Promise<ArchivedFile[]> {
    const byVersion = new Map<string, ArchiveRecord[]>();
    for (const record of records) {
      const key = `${record.batch.pipelineId}|${record.batch.modelVersion}`;
      const list = byVersion.get(key) ?? [];
      list.push(record);
      byVersion.set(key, list);
    }
    const files: ArchivedFile[] = [];
    for (const group of byVersion.values()) files.push(await this.writeVersion(group, at));
    return files;
  }

  private async writeVersion(records: readonly ArchiveRecord[], at: Date): Promise<ArchivedFile> {
    const { pipelineId, modelVersion } = records[0].batch;
    const rows = records.reduce((sum, record) => sum + record.batch.rows, 0);
    const ids = BloomFilter.sized(rows);
    for (const { batch } of records) for (const id of batch.predictionIds) ids.add(id);
    const lines: Buffer[] = [];
    for (const record of records) lines.push(record.bytes, NEWLINE);
    const bytes = await gzipAsync(Buffer.concat(lines), { level: 1 });
    const prefix = dayPrefix(pipelineId, at);
    const stored = await this.infra.objects.putContentAddressed(BUCKETS.monitoring, prefix, bytes, {
      extension: FILE_EXTENSION,
      contentType: 'application/gzip',
    });
    // The filter's key names its file: `<day>/<file sha256>/<filter sha256>.bloom`.
    await this.infra.objects.putContentAddressed(BUCKETS.monitoring, `${prefix}/${stored.sha256}`, ids.toBytes(), {
      extension: '.bloom',
    });
    return { uri: stored.uri, sha256: stored.sha256, pipelineId, modelVersion, rows };
  }

  /**
   * The archived predictions of a pipeline with the given ids (those found; an id may be missing when it was never
   * logged or has passed retention). Reads only the files whose Bloom filter may hold one of the ids. A filter whose
   * file is gone (removed by a retention sweep that stopped halfway, as earlier sweeps could, or by hand) is skipped and
   * counted (`keel_monitoring_archive_orphaned_filters_total`), not an error: the other files still answer.
   */
  async find(pipelineId: string, predictionIds: readonly string[]): Promise<ArchivedPrediction[]> {
    const wanted = new Set(predictionIds);
    const found: ArchivedPrediction[] = [];
    for (const filterKey of await this.listKeys(`${ROOT}/${pipelineId}/`, '.bloom')) {
      // A file is written before its filter: a filter found without its file never gets it.
      if (this.orphans.has(filterKey)) continue;
      const filter = await this.filter(filterKey);
      if (![...wanted].some((id) => filter.mightContain(id))) continue;
      const fileSha = filterKey.split('/').at(-2)!;
      const fileKey = `${filterKey.split('/').slice(0, -2).join('/')}/${fileSha}${FILE_EXTENSION}`;
      let bytes: Buffer;
      try {
        bytes = await this.infra.objects.getVerified({
          uri: `s3://${BUCKETS.monitoring}/${fileKey}`,
          sha256: fileSha,
          maxBytes: MAX_FILE_BYTES,
        });
      } catch (error) {
        if (!(error instanceof ObjectNotFoundError)) throw error;
        this.orphaned(filterKey, fileKey);
        continue;
      }
      for (const prediction of predictionsIn(await gunzipAsync(bytes), wanted)) {
        found.push(prediction);
        wanted.delete(prediction.predictionId);
      }
      if (wanted.size === 0) break;
    }
    return found;
  }

  /** Pipelines that have archived predictions (the label join asks the others for a label's prediction id). */
  async pipelines(): Promise<string[]> {
    const names: string[] = [];
    const stream = this.infra.objects.client.listObjectsV2(BUCKETS.monitoring, `${ROOT}/`, false);
    for await (const item of stream as AsyncIterable<{ prefix?: string }>) {
      const name = item.prefix?.slice(ROOT.length + 1, -1);
      if (name) names.push(name);
    }
    return names;
  }

  /**
   * The newest archived predictions of one model version (the files of the newest two days, newest file first), up
   * to `maxRows`; for estimates on predictions still waiting for labels.
   */
  async newest(pipelineId: string, modelVersion: number, maxRows: number): Promise<ArchivedPrediction[]> {
    const now = Date.now();
    const files: { name: string; lastModified: number }[] = [];
    for (const at of [new Date(now), new Date(now - DAY_MS)]) {
      const stream = this.infra.objects.client.listObjectsV2(
        BUCKETS.monitoring,
        `${dayPrefix(pipelineId, at)}/`,
        false,
      );
      for await (const item of stream as AsyncIterable<{ name?: string; lastModified?: Date }>) {
        if (item.name?.endsWith(FILE_EXTENSION)) {
          files.push({ name: item.name, lastModified: item.lastModified?.getTime() ?? 0 });
        }
      }
    }
    files.sort((a, b) => b.lastModified - a.lastModified || (a.name < b.name ? 1 : -1));
    const found: ArchivedPrediction[] = [];
    for (const file of files) {
      const sha256 = sha256InKey(file.name);
      if (!sha256) continue;
      const bytes = await this.infra.objects.getVerified({
        uri: `s3://${BUCKETS.monitoring}/${file.name}`,
        sha256,
        maxBytes: MAX_FILE_BYTES,
      });
      const rows = [...predictionsIn(await gunzipAsync(bytes), undefined, modelVersion)];
      found.push(...rows.reverse().slice(0, maxRows - found.length));
      if (found.length >= maxRows) break;
    }
    return found;
  }

  /**
   * Removes the days of every pipeline older than `cutoff` (the retention sweep); returns the objects removed. Id
   * filters go first, so a sweep that stops halfway leaves files no lookup reads (removed by the next sweep) rather
   * than filters that point at removed files.
   */
  async deleteBefore(cutoff: Date): Promise<number> {
    const lastKept = new Date(Math.floor(cutoff.getTime() / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
    const old: string[] = [];
    for (const key of await this.listKeys(`${ROOT}/`)) {
      const day = key.split('/')[2];
      if (day !== undefined && day < lastKept) old.push(key);
    }
    old.sort((a, b) => Number(b.endsWith('.bloom')) - Number(a.endsWith('.bloom')));
    for (const key of old) this.filters.delete(key);
    for (let i = 0; i < old.length; i += 1_000) {
      await this.infra.objects.client.removeObjects(BUCKETS.monitoring, old.slice(i, i + 1_000));
    }
    return old.length;
  }

  private orphaned(filterKey: string, fileKey: string): void {
    this.filters.delete(filterKey);
    if (this.orphans.has(filterKey)) return;
    if (this.orphans.size >= MAX_CACHED_FILTERS) this.orphans.clear();
    this.orphans.add(filterKey);
    this.metrics?.archiveOrphanedFilters.inc();
    this.logger?.warn({ filterKey, fileKey }, 'archived id filter without its file; skipped');
  }

  private filter(key: string): Promise<BloomFilter> {
    let filter = this.filters.get(key);
    if (!filter) {
      const sha256 = sha256InKey(key)!;
      filter = this.infra.objects
        .getVerified({ uri: `s3://${BUCKETS.monitoring}/${key}`, sha256 })
        .then((bytes) => BloomFilter.fromBytes(bytes));
      this.filters.set(key, filter);
      filter.catch(() => this.filters.delete(key));
      if (this.filters.size > MAX_CACHED_FILTERS) this.filters.delete(this.filters.keys().next().value!);
    }
    return filter;
  }

  private async listKeys(prefix: string, suffix = ''): Promise<string[]> {
    const keys: string[] = [];
    const stream = this.infra.objects.client.listObjectsV2(BUCKETS.monitoring, prefix, true);
    for await (const item of stream as AsyncIterable<{ name?: string }>) {
      if (item.name?.endsWith(suffix)) keys.push(item.name);
    }
    return keys;
  }
}

const NEWLINE = Buffer.from('\n');

/** The rows of a file whose prediction id is wanted (every row when `wanted` is absent), of one version if given. */
function* predictionsIn(
  file: Buffer,
  wanted: ReadonlySet<string> | undefined,
  modelVersion?: number,
): Generator<ArchivedPrediction> {
  for (const line of file.toString('utf8').split('\n')) {
    if (line.length === 0) continue;
    const batch = JSON.parse(line) as PredictionBatch;
    if (modelVersion !== undefined && batch.modelVersion !== modelVersion) continue;
    for (let row = 0; row < batch.rows; row++) {
      const predictionId = batch.predictionIds[row];
      if (wanted && !wanted.has(predictionId)) continue;
      yield {
        pipelineId: batch.pipelineId,
        predictionId,
        modelName: batch.modelName,
        modelVersion: batch.modelVersion,
        requestId: batch.requestIds[row],
        servedAt: batch.servedAt[row],
        inputs: Object.fromEntries(Object.entries(batch.inputs).map(([name, column]) => [name, column[row]])),
        outputs: Object.fromEntries(Object.entries(batch.outputs).map(([name, column]) => [name, column[row]])),
      };
    }
  }
}
