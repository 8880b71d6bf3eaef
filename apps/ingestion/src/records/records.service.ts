import { setImmediate } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import {
  type CloudEventAttributes,
  DataRecordsV1,
  datasetSchema,
  decodeCloudEvent,
  encodeCloudEventHeaders,
  headerValue,
  isStructuredCloudEvent,
  type PipelineSpec,
} from '@keel/contracts';
import {
  type ConsumedEvent,
  type InboundRecord,
  KafkaDeadLetterSink,
  NonRetryableError,
  type PreparedEvent,
  type PreparedRecord,
  type RecordLimits,
} from '@keel/messaging';
import { Infrastructure, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { movableBuffers } from '@keel/workers';
import { context, propagation, trace } from '@opentelemetry/api';
import { CutService } from '../staging/cut.service';
import { StagingThread } from '../staging/staging-thread';
import { StagingRepository } from '../staging/staging.repository';
import { type BadRecord, checkColumnsOf, codedColumns } from './record-checks';
import { RECORDS_GROUP } from './records-group';
import { type PreparedRecords, prepareRecordsTask, type RecordToPrepare } from './prepare-records.task';

/** Events checked between two turns of the event loop. */
const YIELD_EVERY_EVENTS = 16;
/** Error code of a record that does not match its pipeline's spec. */
const INVALID_RECORD = 'invalid-record';
/** Pipelines whose specs one prepared batch may look up (by its records' keys); events for others go one by one. */
const MAX_SPECS_PER_BATCH = 16;
/** What a pipeline id looks like (DataRecordsV1); a record key that does not is not looked up. */
const PIPELINE_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** One event's checked records, ready to stage. */
interface CheckedEvent {
  id: string;
  record: InboundRecord;
  spec: PipelineSpec;
  source?: string;
  rowsJson: string;
  rowCount: number;
  bad: BadRecord[];
}

/**
 * Ingests data events: checks every record against the pipeline spec, stages the good ones durably and sends each bad
 * one to the dead-letter topic on its own, with the reason.
 *
 * A fetch's events are decoded, checked and turned into staged text on the staging thread (`prepare`,
 * staging-thread.ts), so the event loop is left with staging them: decoding and checking was two thirds of its work
 * per record (profiled in `npm run bench:ingest`). The same thread encodes their cut, from the rows it checked.
 */
@Injectable()
export class RecordsService {
  private readonly deadLetters: KafkaDeadLetterSink;

  constructor(
    private readonly infra: Infrastructure,
    private readonly staging: StagingRepository,
    private readonly cuts: CutService,
    private readonly thread: StagingThread,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
  ) {
    this.deadLetters = new KafkaDeadLetterSink(infra.producer);
  }

  /** Compiles the preparing thread's modules (seconds) before the first fetch rather than during it. */
  async warm(): Promise<void> {
    await this.thread.pool.warm(prepareRecordsTask);
  }

  /**
   * Off the event loop: decodes and checks a fetch's records on the preparing thread, given the specs of the
   * pipelines their keys name (producers key records by pipeline id). A record that does not decode, or whose event is
   * for a pipeline not looked up, is answered undefined and the messaging lib takes it the per-record way (`ingest`).
   */
  async prepare(
    records: readonly InboundRecord[],
    limits: RecordLimits,
  ): Promise<(PreparedRecord<PreparedRecords> | undefined)[]> {
    const specs = new Map<string, PipelineSpec>();
    const tried = new Set<string>();
    for (const record of records) {
      const key = record.key?.toString('utf8');
      if (!key || tried.has(key) || tried.size >= MAX_SPECS_PER_BATCH || !PIPELINE_ID.test(key)) continue;
      tried.add(key);
      // An unknown pipeline's events are dead-lettered the per-record way, with the lookup's reason.
      const stored = await this.infra.pipelines.get(key).catch(() => undefined);
      if (stored) specs.set(key, stored.spec);
    }
    const sent: number[] = [];
    const values: Buffer[] = [];
    const toPrepare: RecordToPrepare[] = [];
    let end = 0;
    records.forEach((record, i) => {
      if (record.value === null) return;
      sent.push(i);
      values.push(record.value);
      end += record.value.length;
      toPrepare.push({
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        headers: headerTexts(record.headers),
        end,
      });
    });
    const answers: (PreparedRecord<PreparedRecords> | undefined)[] = new Array(records.length).fill(undefined);
    if (toPrepare.length === 0 || specs.size === 0) return answers;
    const joined = Buffer.concat(values, end);
    const prepared = await this.thread.pool.run(
      prepareRecordsTask,
      { values: joined, records: toPrepare, specs: [...specs], limits },
      { transferList: movableBuffers(joined) },
    );
    prepared.forEach((answer, j) => {
      if (answer) answers[sent[j]] = answer;
    });
    return answers;
  }

  /** Ingests events decoded and checked by `prepare`: stages them as `ingest` would. */
  async ingestPrepared(events: readonly PreparedEvent<PreparedRecords>[]): Promise<void> {
    const specs = await this.specsOf(events.map((event) => event.prepared.pipelineId));
    await this.stage(
      events.map(({ id, record, prepared }) => ({
        id,
        record,
        spec: specs.get(prepared.pipelineId)!,
        source: prepared.source,
        rowsJson: prepared.rowsJson,
        rowCount: prepared.rowCount,
        bad: prepared.bad,
      })),
    );
  }

  /**
   * Ingests events of one partition, in their order (the messaging lib hands over one event when it takes it the
   * per-record way, or retries it): each event's records checked, every event's good rows staged in three writes,
   * bad records dead-lettered. Per event, this is what ingesting it alone would do, so a retry of any of them is
   * recognised by its event id.
   */
  async ingest(events: readonly ConsumedEvent<typeof DataRecordsV1>[]): Promise<void> {
    const specs = await this.specsOf(events.map((event) => event.data.pipelineId));
    const checked: CheckedEvent[] = [];
    for (const [i, event] of events.entries()) {
      // A fetch of large events takes a while to check: health probes and timers get their turn in between.
      if (i > 0 && i % YIELD_EVERY_EVENTS === 0) await setImmediate();
      const spec = specs.get(event.data.pipelineId)!;
      const schema = datasetSchema(spec);
      const { good, bad } = checkColumnsOf(schema, event.data.records);
      // Staged as the staging thread stages them (prepare-records.task.ts).
      const staged = codedColumns(schema, good);
      checked.push({
        id: event.id,
        record: event.record,
        spec,
        source: event.data.source,
        rowsJson: JSON.stringify(staged),
        rowCount: staged.rows,
        bad,
      });
    }
    await this.stage(checked);
  }

  /** The specs of the given pipelines; throws UnknownPipelineError (non-retryable), the lib dead-letters that event. */
  private async specsOf(pipelineIds: readonly string[]): Promise<Map<string, PipelineSpec>> {
    const specs = new Map<string, PipelineSpec>();
    for (const pipelineId of pipelineIds) {
      if (!specs.has(pipelineId)) specs.set(pipelineId, (await this.infra.pipelines.get(pipelineId)).spec);
    }
    return specs;
  }

  /** Stages checked events (their good rows in three writes), dead-letters their bad records, and tells the cuts. */
  private async stage(checked: readonly CheckedEvent[]): Promise<void> {
    const span = trace.getActiveSpan();
    span?.setAttributes({
      [KeelAttr.PIPELINE_ID]: [...new Set(checked.map((item) => item.spec.id))].join(','),
      [KeelAttr.RECORDS_GOOD]: checked.reduce((sum, item) => sum + item.rowCount, 0),
      [KeelAttr.RECORDS_BAD]: checked.reduce((sum, item) => sum + item.bad.length, 0),
    });
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    // Staged before the handler returns, so the offset commit that follows it loses nothing.
    const staged = await this.staging.stageMany(
      checked.map(({ id, record, spec, source, rowsJson, rowCount, bad }) => ({
        _id: id,
        pipelineId: spec.id,
        rowsJson,
        rowCount,
        badCount: bad.length,
        source,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        traceparent: carrier.traceparent,
        tracestate: carrier.tracestate,
      })),
    );
    for (const [i, { id, record, spec, source, bad }] of checked.entries()) {
      if (bad.length > 0 && !staged[i].batch.deadLettered) {
        await this.deadLetter(record, id, spec.id, source, bad);
        await this.staging.markDeadLettered(staged[i].batch._id);
      }
    }
    for (const [i, { spec }] of checked.entries()) if (staged[i].created) this.cuts.staged(spec, staged[i].batch);
  }

  /**
   * One dead letter per bad record, in one write, each a data-records event of its own: the record alone in a batch
   * of one, under an id derived from the event's (`<event id>/record-<index>`), in binary mode whatever mode the
   * event came in, with its trace headers and why this record was refused (`record 3: age "forty" is not a number`).
   * So `npm run dlq:replay`, once the spec or the record is fixed, sends back an event ingestion takes like any other,
   * and takes once: the derived id is new to staging (the original event's id is staged already, and a replay under
   * it would be dropped as a redelivery), and the same every time this record is dead-lettered.
   */
  private async deadLetter(
    record: InboundRecord,
    eventId: string,
    pipelineId: string,
    source: string | undefined,
    bad: readonly BadRecord[],
  ): Promise<void> {
    const original = originalAttributes(record, eventId);
    const traceHeaders = Object.fromEntries(
      ['traceparent', 'tracestate'].flatMap((name) => {
        const value = headerValue(record.headers, name);
        return value === undefined ? [] : [[name, value]];
      }),
    );
    const consumer = `${this.identity.name}.${RECORDS_GROUP}`;
    await this.deadLetters.sendAll(
      bad.map((item) => ({
        record: {
          ...record,
          key: Buffer.from(pipelineId),
          value: Buffer.from(
            JSON.stringify({ pipelineId, records: [item.record], ...(source === undefined ? {} : { source }) }),
          ),
          headers: {
            ...encodeCloudEventHeaders({
              ...original,
              id: deadRecordEventId(eventId, item.index),
              type: DataRecordsV1.topic,
              datacontenttype: 'application/json',
            }),
            ...traceHeaders,
          },
        } satisfies InboundRecord,
        failure: { error: new NonRetryableError(item.reason, INVALID_RECORD), consumer, attempts: 1 },
      })),
    );
  }
}

/** The id of the event a refused record is dead-lettered (and replayed) as: one per record of an event, stable. */
export function deadRecordEventId(eventId: string, index: number): string {
  return `${eventId}/record-${index}`;
}

/** The CloudEvent attributes of a consumed data event, from its headers, or its envelope in structured mode. */
function originalAttributes(record: InboundRecord, eventId: string): CloudEventAttributes {
  if (isStructuredCloudEvent(record.headers)) return decodeCloudEvent(record.headers, record.value).attributes;
  const optional = (name: string) => headerValue(record.headers, `ce_${name}`);
  return {
    id: eventId,
    source: optional('source') ?? '/keel/ingestion',
    type: DataRecordsV1.topic,
    specversion: '1.0',
    ...(optional('time') === undefined ? {} : { time: optional('time') }),
    ...(optional('subject') === undefined ? {} : { subject: optional('subject') }),
  };
}

/** A record's headers as text (what decoding a CloudEvent reads of them), to cross to the preparing thread. */
function headerTexts(headers: InboundRecord['headers']): RecordToPrepare['headers'] {
  const texts: RecordToPrepare['headers'] = {};
  for (const [name, value] of Object.entries(headers)) {
    // Not a header decoding reads; as a key here it would set the object's prototype.
    if (name === '__proto__') continue;
    texts[name] = Array.isArray(value) ? value.map((item) => item.toString()) : value?.toString();
  }
  return texts;
}
