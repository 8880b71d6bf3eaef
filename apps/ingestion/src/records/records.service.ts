import { Inject, Injectable } from '@nestjs/common';
import { type DataRecordsV1 } from '@keel/contracts';
import { type ConsumedEvent, type InboundRecord, KafkaDeadLetterSink, NonRetryableError } from '@keel/messaging';
import { Infrastructure, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { context, propagation, trace } from '@opentelemetry/api';
import { CutService } from '../staging/cut.service';
import { StagingRepository } from '../staging/staging.repository';
import { type BadRecord, checkRecords } from './record-checks';
import { RECORDS_GROUP } from './records-group';

/** Error code of a record that does not match its pipeline's spec. */
const INVALID_RECORD = 'invalid-record';

/**
 * Ingests one data event: checks every record against the pipeline spec, stages the good ones durably and sends
 * each bad one to the dead-letter topic on its own, with the reason.
 */
@Injectable()
export class RecordsService {
  private readonly deadLetters: KafkaDeadLetterSink;

  constructor(
    private readonly infra: Infrastructure,
    private readonly staging: StagingRepository,
    private readonly cuts: CutService,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
  ) {
    this.deadLetters = new KafkaDeadLetterSink(infra.producer);
  }

  async ingest(event: ConsumedEvent<typeof DataRecordsV1>): Promise<void> {
    // Throws UnknownPipelineError (non-retryable): the messaging lib dead-letters the whole event.
    const pipeline = await this.infra.pipelines.get(event.data.pipelineId);
    const { spec } = pipeline;
    const { good, bad } = checkRecords(spec, event.data.records);
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.PIPELINE_ID]: spec.id,
      [KeelAttr.RECORDS_GOOD]: good.length,
      [KeelAttr.RECORDS_BAD]: bad.length,
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

  /**
   * One dead letter per bad record, in one write: the record alone as the value, the event's CloudEvent and trace
   * headers, and why this record was refused (`record 3: age "forty" is not a number`).
   */
  private async deadLetter(event: ConsumedEvent<typeof DataRecordsV1>, bad: readonly BadRecord[]): Promise<void> {
    const { record } = event;
    const headers = Object.fromEntries(
      Object.entries(record.headers).filter(
        ([name, value]) =>
          value !== undefined && (name.startsWith('ce_') || name === 'traceparent' || name === 'tracestate'),
      ),
    );
    const consumer = `${this.identity.name}.${RECORDS_GROUP}`;
    await this.deadLetters.sendAll(
      bad.map((item) => ({
        record: {
          ...record,
          key: Buffer.from(event.data.pipelineId),
          value: Buffer.from(
            JSON.stringify({ pipelineId: event.data.pipelineId, index: item.index, record: item.record }),
          ),
          headers,
        } satisfies InboundRecord,
        failure: { error: new NonRetryableError(item.reason, INVALID_RECORD), consumer, attempts: 1 },
      })),
    );
  }
}
