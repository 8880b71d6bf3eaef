import { MessageChannel } from 'node:worker_threads';
import { BadRequestException, Injectable, NotFoundException, type OnApplicationBootstrap } from '@nestjs/common';
import { type FileFormat, type SourceCleaning } from '@keel/contracts';
import { type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Span } from '@opentelemetry/api';
import { asBuffer, WorkerPool } from '@keel/workers';
import { type DroppedRows } from '../cleaning/row-cleaning';
import { DatasetVersionsService, type EncodedRows } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { fileUploadTask, type UploadBodyAck, type UploadBodyMessage, type UploadOutcome } from './file-upload.task';
import { SendWindow, UPLOAD_BYTES_IN_FLIGHT } from './send-window';

/** How each format is named in errors. */
const FORMAT_NAMES: Record<FileFormat, string> = { csv: 'CSV', jsonl: 'JSON Lines', parquet: 'Parquet' };

/** A file that is not a dataset version of its pipeline: the outcome says why. */
export class FileNotIngested extends Error {
  constructor(
    readonly outcome: Exclude<UploadOutcome, { kind: 'encoded' }>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * File uploads (CSV, JSON Lines, Parquet): a file is checked as a whole and becomes one dataset version, or nothing.
 * The file streams from the request to a worker thread that parses, checks and encodes it, so neither the bytes nor
 * its rows are ever held on the event loop. The same rows make the same version whatever the file's format.
 */
@Injectable()
export class UploadsService implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: DatasetVersionsService,
    private readonly workers: WorkerPool,
  ) {}

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(fileUploadTask);
  }

  /** `body` yields the file's bytes; an error it throws (an oversized upload) cancels the parse and is rethrown. */
  async upload(
    pipelineId: string,
    body: AsyncIterable<Uint8Array>,
    name: string,
    format: FileFormat = 'csv',
  ): Promise<DatasetVersion> {
    return withSpan(`ingest ${format} upload`, { [KeelAttr.PIPELINE_ID]: pipelineId }, async (span) => {
      const pipeline = await this.pipeline(pipelineId);
      let encoded: EncodedRows;
      try {
        encoded = await this.encode(pipeline, format, body, span);
      } catch (error) {
        if (error instanceof FileNotIngested) {
          throw new BadRequestException({
            message: error.message,
            issues: error.outcome.kind === 'rejected' ? error.outcome.issues : [],
          });
        }
        throw error;
      }
      return this.versions.write(pipeline, encoded, [`upload:${name}`]);
    });
  }

  /**
   * A file's rows as the Parquet of a dataset version of `pipeline`, encoded on a worker thread as its bytes stream
   * in; a FileNotIngested when it is malformed, empty or has rows the spec refuses (also for the object-store
   * source, which takes files the same way, through its declared `cleaning`: then `rowsRead` may be more than the
   * version's rows, by the `dropped` ones, and a file whose every row was dropped is not ingested either).
   */
  async encode(
    pipeline: StoredPipelineSpec,
    format: FileFormat,
    body: AsyncIterable<Uint8Array>,
    span?: Span,
    cleaning?: SourceCleaning,
  ): Promise<EncodedRows & { rowsRead: number; dropped?: DroppedRows }> {
    const pipelineId = pipeline.spec.id;
    const { port1: sender, port2: receiver } = new MessageChannel();
    const send = (message: UploadBodyMessage, transfer: ArrayBuffer[] = []) => sender.postMessage(message, transfer);
    const window = new SendWindow(UPLOAD_BYTES_IN_FLIGHT);
    sender.on('message', (ack: UploadBodyAck) => window.giveBack(ack.consumed));
    const parsing = this.workers.run(
      fileUploadTask,
      { spec: pipeline.spec, format, body: receiver, ...(cleaning ? { cleaning } : {}) },
      { transferList: [receiver], attributes: { [KeelAttr.PIPELINE_ID]: pipelineId } },
    );
    // A worker done before the body's end (a malformed or refused file) reads no more: the rest is not sent.
    void parsing.then(
      () => window.close(),
      () => window.close(),
    );
    let bytes = 0;
    let outcome: UploadOutcome;
    try {
      try {
        for await (const chunk of body) {
          bytes += chunk.byteLength;
          // Past a worker done early, the body is still read to its end (an upload's client then gets its answer
          // rather than a reset connection), not sent.
          if (!(await window.take(chunk.byteLength))) continue;
          // A copy of its own, moved rather than cloned: a request chunk may share its memory with other data.
          const copy = new Uint8Array(chunk);
          send({ chunk: copy }, [copy.buffer]);
        }
        send({ end: true });
      } catch (error) {
        send({ cancel: true });
        await parsing.catch(() => undefined);
        throw error;
      } finally {
        span?.setAttribute(KeelAttr.UPLOAD_BYTES, bytes);
      }
      outcome = await parsing;
    } finally {
      sender.close();
    }
    const what = FORMAT_NAMES[format];
    switch (outcome.kind) {
      case 'malformed':
        throw new FileNotIngested(outcome, `malformed ${what}: ${outcome.problem}`);
      case 'no-rows':
        throw new FileNotIngested(
          outcome,
          outcome.rowsRead === 0
            ? `the ${what} file has no rows`
            : `the cleaning dropped all ${outcome.rowsRead} rows of the ${what} file (${describeDropped(outcome.dropped)})`,
        );
      case 'rejected':
        span?.setAttributes({
          [KeelAttr.RECORDS_GOOD]: outcome.rowCount - outcome.badCount,
          [KeelAttr.RECORDS_BAD]: outcome.badCount,
        });
        throw new FileNotIngested(
          outcome,
          `${outcome.badCount} of ${outcome.rowCount} rows do not match pipeline ${pipelineId}; nothing was ingested`,
        );
      case 'cancelled':
        throw new Error(`the ${what} upload was cancelled while its body was still streaming`);
      case 'encoded':
        span?.setAttributes({ [KeelAttr.RECORDS_GOOD]: outcome.rowCount, [KeelAttr.RECORDS_BAD]: 0 });
        return {
          parquet: asBuffer(outcome.parquet),
          rowCount: outcome.rowCount,
          rowsRead: outcome.rowsRead,
          ...(outcome.dropped ? { dropped: outcome.dropped } : {}),
        };
    }
  }

  private async pipeline(pipelineId: string): Promise<StoredPipelineSpec> {
    try {
      return await this.infra.pipelines.get(pipelineId);
    } catch (error) {
      if (error instanceof UnknownPipelineError) throw new NotFoundException(error.message);
      throw error;
    }
  }
}

/** `filter 3, dedupe 1`: the steps that dropped rows and how many. */
export function describeDropped(dropped: DroppedRows | undefined): string {
  const parts = Object.entries(dropped ?? {})
    .filter(([, count]) => count > 0)
    .map(([step, count]) => `${step} ${count}`);
  return parts.length > 0 ? `dropped by ${parts.join(', ')}` : 'none dropped';
}
