import { MessageChannel } from 'node:worker_threads';
import { BadRequestException, Injectable, NotFoundException, type OnApplicationBootstrap } from '@nestjs/common';
import { type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer, WorkerPool } from '@keel/workers';
import { DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { type CsvBodyMessage, csvUploadTask } from './csv-upload.task';

/**
 * CSV uploads: a file is checked as a whole and becomes one dataset version, or nothing. The file streams from the
 * request to a worker thread that parses, checks and encodes it, so neither the text nor its rows are ever held on
 * the event loop.
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
    await this.workers.warm(csvUploadTask);
  }

  /** `body` yields the file's bytes; an error it throws (an oversized upload) cancels the parse and is rethrown. */
  async upload(pipelineId: string, body: AsyncIterable<Uint8Array>, name: string): Promise<DatasetVersion> {
    return withSpan('ingest csv upload', { [KeelAttr.PIPELINE_ID]: pipelineId }, async (span) => {
      const pipeline = await this.pipeline(pipelineId);
      const { port1: sender, port2: receiver } = new MessageChannel();
      const send = (message: CsvBodyMessage, transfer: ArrayBuffer[] = []) => sender.postMessage(message, transfer);
      const parsing = this.workers.run(
        csvUploadTask,
        { spec: pipeline.spec, body: receiver },
        { transferList: [receiver], attributes: { [KeelAttr.PIPELINE_ID]: pipelineId } },
      );
      let bytes = 0;
      try {
        for await (const chunk of body) {
          bytes += chunk.byteLength;
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
        span.setAttribute(KeelAttr.UPLOAD_BYTES, bytes);
      }
      let outcome: Awaited<typeof parsing>;
      try {
        outcome = await parsing;
      } finally {
        sender.close();
      }
      switch (outcome.kind) {
        case 'malformed':
          throw new BadRequestException({ message: `malformed CSV: ${outcome.problem}`, issues: [outcome.problem] });
        case 'no-rows':
          throw new BadRequestException({ message: 'the CSV has a header but no rows', issues: [] });
        case 'rejected':
          span.setAttributes({
            [KeelAttr.RECORDS_GOOD]: outcome.rowCount - outcome.badCount,
            [KeelAttr.RECORDS_BAD]: outcome.badCount,
          });
          throw new BadRequestException({
            message: `${outcome.badCount} of ${outcome.rowCount} rows do not match pipeline ${pipelineId}; nothing was ingested`,
            issues: outcome.issues,
          });
        case 'cancelled':
          throw new Error('the CSV upload was cancelled while its body was still streaming');
        case 'encoded':
          span.setAttributes({ [KeelAttr.RECORDS_GOOD]: outcome.rowCount, [KeelAttr.RECORDS_BAD]: 0 });
          return this.versions.write(pipeline, { parquet: asBuffer(outcome.parquet), rowCount: outcome.rowCount }, [
            `upload:${name}`,
          ]);
      }
    });
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
