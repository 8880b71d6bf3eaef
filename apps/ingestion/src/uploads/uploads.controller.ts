import {
  Controller,
  Inject,
  Param,
  PayloadTooLargeException,
  Post,
  Query,
  Req,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { type FileFormat } from '@keel/contracts';
import { SERVICE_CONFIG } from '@keel/service-runtime';
import { type Request } from 'express';
import { type IngestionConfig } from '../config';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { UploadsService } from './uploads.service';

/** The format of an upload by its content type. */
export function uploadFormat(contentType: string): FileFormat | undefined {
  if (/^text\/(csv|plain)\b/i.test(contentType)) return 'csv';
  if (/^application\/(x-ndjson|jsonl|x-jsonlines|jsonlines)\b/i.test(contentType)) return 'jsonl';
  if (/^application\/(vnd\.apache\.parquet|x-parquet)\b/i.test(contentType)) return 'parquet';
  return undefined;
}

/** Uploads of whole datasets: CSV, JSON Lines or Parquet. */
@Controller('api/v1/pipelines/:id/datasets')
export class UploadsController {
  constructor(
    private readonly uploads: UploadsService,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
  ) {}

  /**
   * A text/csv, application/x-ndjson (JSON Lines) or application/vnd.apache.parquet body becomes a dataset version
   * (201 with its document), or a 400 naming the problems.
   */
  @Post()
  async upload(
    @Param('id') pipelineId: string,
    @Req() request: Request,
    @Query('name') name?: string,
  ): Promise<DatasetVersion> {
    const format = uploadFormat(request.headers['content-type'] ?? '');
    if (!format) {
      throw new UnsupportedMediaTypeException(
        'send the file as text/csv, application/x-ndjson (JSON Lines) or application/vnd.apache.parquet',
      );
    }
    const limit = this.config.INGESTION_MAX_UPLOAD_BYTES;
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      throw new PayloadTooLargeException(`the upload exceeds ${limit} bytes`);
    }
    return this.uploads.upload(pipelineId, this.boundedBody(request, limit), name?.slice(0, 150) || format, format);
  }

  // Read here rather than by a body-parser middleware: the platform parses only JSON and forms, and the body streams
  // on to the parser under a size cap rather than being buffered whole. The rest of an oversized body is drained, not
  // cut off, so the client still gets its 413.
  private async *boundedBody(request: Request, limit: number): AsyncGenerator<Uint8Array> {
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= limit) yield chunk;
    }
    if (size > limit) throw new PayloadTooLargeException(`the upload exceeds ${limit} bytes`);
  }
}
