import { Inject, Injectable } from '@nestjs/common';
import { type DataRecordsV1, deadLetterTopic } from '@keel/contracts';
import { type ConsumedEvent, DLQ_HEADERS } from '@keel/messaging';
import { Infrastructure, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { context, propagation, trace } from '@opentelemetry/api';
import { CutService } from '../staging/cut.service';
import { StagingRepository } from '../staging/staging.repository';
import { type BadRecord, checkRecords } from './record-checks';

/** Consumer group suffix of the records consumer; also names it in dead-letter headers. */
export const RECORDS_GROUP = 'records';

/**
 * Ingests one data event: checks every record against the pipeline spec, stages the good ones durably and sends
 * each bad one to the dead-letter topic on its own, with the reason.
 */
@Injectable()
export class RecordsService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly staging: StagingRepository,
    private readonly cuts: CutService,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
  ) {}

  async ingest(event: ConsumedEvent<typeof DataRecordsV1>): Promise<void> {
    // Throws UnknownPipelineError (non-retryable): the messaging lib dead-letters the whole event.
    const { spec } = await this.infra.pipelines.get(event.data.pipelineId);
    const { good, bad } = checkRecords(spec, event.data.records);
    const span = trace.getActiveSpan();
    span?.setAttributes({
      'keel.pipeline.id': spec.id,
      'keel.records.good': good.length,
      'keel.records.bad': bad.length,
    });
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    // Staged before the handler returns, so the offset commit that follows it loses nothing.
    const { batch: staged, created } = await this.staging.stage({
      _id: event.id,
      pipelineId: spec.id,
      recordsJson: JSON.stringify(good),
      rowCount: good.length,
      badCount: bad.length,
      source: event.data.source,
      topic: event.record.topic,
      partition: event.record.partition,
      offset: event.record.offset,
      traceparent: carrier.traceparent,
      tracestate: carrier.tracestate,
    });
    if (bad.length > 0 && !staged.deadLettered) {
      await this.deadLetter(event, bad);
      await this.staging.markDeadLettered(staged._id);
    }
    if (created) this.cuts.staged(spec, staged);
  }

  /** One dead letter per bad record, with the event's CloudEvent headers and why this record was refused. */
  private async deadLetter(event: ConsumedEvent<typeof DataRecordsV1>, bad: readonly BadRecord[]): Promise<void> {
    const { record } = event;
    const kept = Object.fromEntries(
      Object.entries(record.headers).filter(
        ([name, value]) =>
          value !== undefined && (name.startsWith('ce_') || name === 'traceparent' || name === 'tracestate'),
      ),
    ) as Record<string, Buffer | string>;
    await this.infra.producer.send({
      topic: deadLetterTopic(record.topic),
      messages: bad.map((item) => ({
        key: event.data.pipelineId,
        value: JSON.stringify({ pipelineId: event.data.pipelineId, index: item.index, record: item.record }),
        headers: {
          ...kept,
          [DLQ_HEADERS.reason]: item.reason,
          [DLQ_HEADERS.errorCode]: 'invalid-record',
          [DLQ_HEADERS.consumer]: `${this.identity.name}.${RECORDS_GROUP}`,
          [DLQ_HEADERS.attempts]: '1',
          [DLQ_HEADERS.originalTopic]: record.topic,
          [DLQ_HEADERS.originalPartition]: String(record.partition),
          [DLQ_HEADERS.originalOffset]: record.offset,
          [DLQ_HEADERS.failedAt]: new Date().toISOString(),
        },
      })),
    });
  }
}
