import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { type PipelineSpecV1 } from '@keel/contracts';
import { UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { datasetSchema } from '../datasets/dataset-schema';
import { DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { checkRecords } from '../records/record-checks';
import { CsvError, parseCsv } from './csv';

const tracer = trace.getTracer('keel-ingestion');
const MAX_LISTED_PROBLEMS = 20;

/** Records of a CSV file as the record checks take them; an empty field is a missing value. */
export function csvRecords(
  spec: PipelineSpecV1,
  text: string,
): { line: number; record: Record<string, string | null> }[] {
  const { header, rows } = parseCsv(text);
  const required = datasetSchema(spec).filter((column) => column.role !== 'attribute' || !column.nullable);
  const missing = required.filter((column) => !header.includes(column.name)).map((column) => column.name);
  if (missing.length > 0) throw new CsvError(1, `the header lacks columns the spec requires: ${missing.join(', ')}`);
  const wanted = datasetSchema(spec)
    .map((column) => ({ name: column.name, index: header.indexOf(column.name) }))
    .filter(({ index }) => index >= 0);
  return rows.map(({ line, fields }) => {
    const record: Record<string, string | null> = {};
    for (const { name, index } of wanted) record[name] = fields[index] === '' ? null : fields[index];
    return { line, record };
  });
}

/** CSV uploads: a file is checked as a whole and becomes one dataset version, or nothing. */
@Injectable()
export class UploadsService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly versions: DatasetVersionsService,
  ) {}

  async upload(pipelineId: string, text: string, name: string): Promise<DatasetVersion> {
    return tracer.startActiveSpan('ingest csv upload', async (span) => {
      try {
        span.setAttributes({ 'keel.pipeline.id': pipelineId, 'keel.upload.bytes': Buffer.byteLength(text) });
        const spec = await this.spec(pipelineId);
        let rows: ReturnType<typeof csvRecords>;
        try {
          rows = csvRecords(spec, text);
        } catch (error) {
          if (error instanceof CsvError)
            throw new BadRequestException({ message: `malformed CSV: ${error.message}`, issues: [error.message] });
          throw error;
        }
        if (rows.length === 0)
          throw new BadRequestException({ message: 'the CSV has a header but no rows', issues: [] });
        const { good, bad } = checkRecords(
          spec,
          rows.map((row) => row.record),
          (index) => `line ${rows[index].line}`,
        );
        span.setAttributes({ 'keel.records.good': good.length, 'keel.records.bad': bad.length });
        if (bad.length > 0) {
          throw new BadRequestException({
            message: `${bad.length} of ${rows.length} rows do not match pipeline ${pipelineId}; nothing was ingested`,
            issues: bad.slice(0, MAX_LISTED_PROBLEMS).map((item) => item.reason),
          });
        }
        return await this.versions.write(spec, good, [`upload:${name}`]);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async spec(pipelineId: string): Promise<PipelineSpecV1> {
    try {
      return (await this.infra.pipelines.get(pipelineId)).spec;
    } catch (error) {
      if (error instanceof UnknownPipelineError) throw new NotFoundException(error.message);
      throw error;
    }
  }
}
