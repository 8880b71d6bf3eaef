import { setImmediate } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { type DataRecordsV1, type PipelineSpecV1 } from '@keel/contracts';
import { type ConsumedEvent, type InboundRecord, KafkaDeadLetterSink, NonRetryableError } from '@keel/messaging';
import { Infrastructure, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { context, propagation, trace } from '@opentelemetry/api';
import { CutService } from '../staging/cut.service';
import { StagingRepository } from '../staging/staging.repository';
import { type BadRecord, checkRows, type CleanRows } from './record-checks';
import { RECORDS_GROUP } from './records-group';

/** Events checked between two turns of the event loop. */
const YIELD_EVERY_EVENTS = 16;

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

  /**
   * Ingests events of one partition, in their order (the messaging lib hands over what a fetch brought, or one event
   * when it retries them one by one): each event's records checked, every event's good rows staged in three writes,
   * bad records dead-lettered. Per event, this is what ingesting it alone would do, so a retry of any of them is
   * recognised by its event id.
   */
  async ingest(events: readonly ConsumedEvent<typeof DataRecordsV1>[]): Promise<void> {
    const specs = new Map<string, PipelineSpecV1>();
    for (const event of events) {
      // Throws UnknownPipelineError (non-retryable): the messaging lib dead-letters that event on its own.
      if (!specs.has(event.data.pipelineId)) {
        specs.set(event.data.pipelineId, (await this.infra.pipelines.get(event.data.pipelineId)).spec);
      }
    }
    const checked: {
      event: (typeof events)[number];
      spec: PipelineSpecV1;
      good: CleanRows;
      bad: BadRecord[];
      rowsJson: string;
    }[] = [];
    for (const [i, event] of events.entries()) {
      // A fetch of large events takes a while to check: health probes and timers get their turn in between.
      if (i > 0 && i % YIELD_EVERY_EVENTS === 0) await setImmediate();
      const spec = specs.get(event.data.pipelineId)!;
      const { good, bad } = checkRows(spec, event.data.records);
      checked.push({ event, spec, good, bad, rowsJson: JSON.stringify(good) });
    }
    const span = trace.getActiveSpan();
    span?.setAttributes({
      [KeelAttr.PIPELINE_ID]: [...specs.keys()].join(','),
      [KeelAttr.RECORDS_GOOD]: checked.reduce((sum, item) => sum + item.good.rows.length, 0),
      [KeelAttr.RECORDS_BAD]: checked.reduce((sum, item) => sum + item.bad.length, 0),
    });
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    // Staged before the handler returns, so the offset commit that follows it loses nothing.
    const staged = await this.staging.stageMany(
      checked.map(({ event, spec, good, bad, rowsJson }) => ({
        _id: event.id,
        pipelineId: spec.id,
        rowsJson,
        rowCount: good.rows.length,
        badCount: bad.length,
        source: event.data.source,
        topic: event.record.topic,
        partition: event.record.partition,
        offset: event.record.offset,
        traceparent: carrier.traceparent,
        tracestate: carrier.tracestate,
      })),
    );
    for (const [i, { event, bad }] of checked.entries()) {
      if (bad.length > 0 && !staged[i].batch.deadLettered) {
        await this.deadLetter(event, bad);
        await this.staging.markDeadLettered(staged[i].batch._id);
      }
    }
    for (const [i, { spec }] of checked.entries()) if (staged[i].created) this.cuts.staged(spec, staged[i].batch);
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
