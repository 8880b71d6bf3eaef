import { Inject, Injectable } from '@nestjs/common';
import { describeCleaning, type HttpSource } from '@keel/contracts';
import { SERVICE_CONFIG } from '@keel/service-runtime';
import { type IngestionConfig } from '../config';
import { type LeaseScope, type Versioned } from '@keel/coordination';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { CleanTable } from '../cleaning/clean-table';
import { datasetParquet } from '../datasets/dataset-parquet';
import { sha256Of } from '../datasets/dataset-versions.service';
import { datasetSchema } from '@keel/contracts';
import { ContentPlans } from './content-plans';
import { compareCursor } from './cursor-order';
import { atPath, type HttpReaderDeps, httpPages, realHttpDeps } from './http-reader';
import { type Watermark } from './postgres-reader';
import { SourceConfigError } from './pull-failures';
import { type SourceRun, type SourceState } from './source-state.repository';

/** Rejection reasons kept per run. */
const MAX_REJECTIONS = 20;

/** Injection token of the HTTP clock and fetch (tests of the retry logic fake them). */
export const HTTP_READER_DEPS = Symbol('HTTP_READER_DEPS');

/** Rows in (cursor, key) order, each compared as compareCursor does: the watermark's order. */
export function compareWatermarks(a: Watermark, b: Watermark): number {
  return compareCursor(a.cursor, b.cursor) || compareCursor(a.key, b.key);
}

function describe(watermark: Watermark | null): string {
  return watermark ? `${watermark.cursor}/${watermark.key}` : 'start';
}

/** The header a source authenticates with, its value from ingestion's environment. */
export function authHeaders(source: HttpSource, env: NodeJS.ProcessEnv): Record<string, string> {
  if (!source.auth) return {};
  const value = env[source.auth.valueEnv];
  if (!value) {
    throw new SourceConfigError(
      `source ${source.id} reads ${source.auth.valueEnv}, which is not set in ingestion's environment`,
    );
  }
  return { [source.auth.header]: value };
}

/**
 * Pulls an HTTP JSON API: every page from the watermark on (the API's updated-since parameter), checked row by row,
 * as one dataset version. An API's pages need not be in cursor order, so the watermark can only move once every page
 * is read; the version's content is planned first (see ContentPlans), so a pull that dies after its write is settled
 * by the next one without reading the pages again.
 */
@Injectable()
export class HttpSourcePuller {
  constructor(
    private readonly plans: ContentPlans,
    @Inject(HTTP_READER_DEPS) private readonly deps: HttpReaderDeps,
  ) {}

  async pull(
    pipeline: StoredPipelineSpec,
    source: HttpSource,
    current: Versioned<SourceState>,
    run: SourceRun,
    scope: LeaseScope,
    signal: AbortSignal,
  ): Promise<Versioned<SourceState>> {
    const cleaned = describeCleaning(source.cleaning);
    const lineage = (from: Watermark | null, to: Watermark | null) =>
      (source.incremental ? `http:${source.id}@(${describe(from)}, ${describe(to)}]` : `http:${source.id}`) +
      (cleaned ? ` ${cleaned}` : '');
    current = await this.plans.settle(pipeline, source.id, current, run, (planned) =>
      lineage(planned.from, planned.to),
    );
    const from = current.state.watermark;
    const counts = { requests: 0, retries: 0 };
    // Each row through the source's cleaning and the dataset's checks, as it arrives.
    const rows = new CleanTable(datasetSchema(pipeline.spec), source.cleaning, MAX_REJECTIONS);
    let to = from;
    let index = 0;
    try {
      for await (const page of httpPages(
        source,
        from?.cursor,
        authHeaders(source, process.env),
        signal,
        counts,
        this.deps,
      )) {
        scope.assertHeld();
        for (const row of page) {
          const label = `row ${index++}`;
          let mark: Watermark | undefined;
          if (source.incremental && isObject(row)) {
            const cursor = atPath(row, source.incremental.field);
            const key = atPath(row, source.incremental.key);
            if (isScalar(cursor) && isScalar(key)) {
              mark = { cursor: String(cursor), key: String(key) };
              // updated-since is inclusive: rows at or before the watermark were taken by an earlier pull.
              if (from && compareWatermarks(mark, from) <= 0) continue;
            }
          }
          run.rowsRead++;
          const problem = !isObject(row)
            ? 'not a JSON object'
            : source.incremental && !mark
              ? `no ${source.incremental.field} and ${source.incremental.key} to place it by`
              : undefined;
          if (problem) {
            rows.refuse(label, problem);
          } else {
            rows.add(row, label);
            // Rows held, not rows kept: a version's rows that a later row of their key replaced are held too.
            if (rows.held > source.maxRows) {
              throw new SourceConfigError(
                `the pull has more than ${source.maxRows} new rows (maxRows); nothing was committed`,
              );
            }
          }
          if (mark && (!to || compareWatermarks(mark, to) > 0)) to = mark;
        }
      }
    } finally {
      run.requests = counts.requests;
      run.retries = counts.retries;
      run.rowsRejected += rows.rejected;
      for (const reason of rows.rejections) if (run.rejections.length < MAX_REJECTIONS) run.rejections.push(reason);
      if (source.cleaning) run.rowsDropped = rows.dropped;
    }
    if (run.rowsRead === 0) return current;
    let encoded = null;
    if (rows.goodRows > 0) {
      const parquet = datasetParquet(pipeline.spec, rows.table());
      encoded = { parquet, rowCount: rows.goodRows, sha256: sha256Of(parquet) };
    }
    return this.plans.write(
      pipeline,
      source.id,
      current,
      run,
      { encoded, from, to, lineage: lineage(from, to) },
      scope,
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is string | number {
  return (typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value));
}

export const httpReaderDepsProvider = {
  provide: HTTP_READER_DEPS,
  useFactory: (config: IngestionConfig): HttpReaderDeps => ({
    ...realHttpDeps,
    maxPageBytes: config.INGESTION_HTTP_MAX_PAGE_BYTES,
  }),
  inject: [SERVICE_CONFIG],
};
