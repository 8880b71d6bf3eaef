import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { checkRecords } from '../records/record-checks';
import { CsvError, parseCsv } from './csv';

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
    return withSpan(
      'ingest csv upload',
      { [KeelAttr.PIPELINE_ID]: pipelineId, [KeelAttr.UPLOAD_BYTES]: Buffer.byteLength(text) },
      async (span) => {
        const pipeline = await this.pipeline(pipelineId);
        let rows: ReturnType<typeof csvRecords>;
        try {
          rows = csvRecords(pipeline.spec, text);
        } catch (error) {
          if (error instanceof CsvError)
            throw new BadRequestException({ message: `malformed CSV: ${error.message}`, issues: [error.message] });
          throw error;
        }
        if (rows.length === 0)
          throw new BadRequestException({ message: 'the CSV has a header but no rows', issues: [] });
        const { good, bad } = checkRecords(
          pipeline.spec,
          rows.map((row) => row.record),
          (index) => `line ${rows[index].line}`,
        );
        span.setAttributes({ [KeelAttr.RECORDS_GOOD]: good.length, [KeelAttr.RECORDS_BAD]: bad.length });
        if (bad.length > 0) {
          throw new BadRequestException({
            message: `${bad.length} of ${rows.length} rows do not match pipeline ${pipelineId}; nothing was ingested`,
            issues: bad.slice(0, MAX_LISTED_PROBLEMS).map((item) => item.reason),
          });
        }
        return this.versions.write(pipeline, good, [`upload:${name}`]);
      },
    );
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
