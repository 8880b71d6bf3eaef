import { DataRecordsV1, datasetSchema, encodeCloudEventHeaders, type PipelineSpecV1 } from '@keel/contracts';
import { DEFAULT_RECORD_LIMITS } from '@keel/messaging';
import { parsePipelineSpec } from '@keel/pipelines';
import { afterEach, describe, expect, it } from 'vitest';
import { forgetCheckedRows, takeCheckedRows } from '../staging/checked-rows-cache';
import { stagedTable } from '../staging/cut-encode.task';
import { prepareRecords, type PrepareRecordsInput } from './prepare-records.task';
import { checkColumnsOf, codedColumns } from './record-checks';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'unit-pipeline',
  task: 'binary-classification',
  target: { column: 'income', positive: '>50K' },
  features: [
    { name: 'age', type: 'numeric', nullable: false },
    { name: 'sex', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});

const records = [
  { age: 39, sex: 'Male', income: '<=50K', extra: 1 },
  { age: 'forty', sex: 'Female', income: '>50K' },
  { age: 0, sex: null, income: '>50K' },
];

const binary = (id: string, type = DataRecordsV1.topic) =>
  encodeCloudEventHeaders({ id, source: '/unit', type, specversion: '1.0' });

/** The input the records service builds: values one after another, headers as text. */
function input(values: { value: string; headers: Record<string, string> }[]): PrepareRecordsInput {
  let end = 0;
  return {
    values: Buffer.concat(values.map(({ value }) => Buffer.from(value))),
    records: values.map(({ value, headers }, i) => ({
      topic: DataRecordsV1.topic,
      partition: 0,
      offset: String(i),
      headers,
      end: (end += Buffer.byteLength(value)),
    })),
    specs: [[spec.id, spec]],
    limits: DEFAULT_RECORD_LIMITS,
  };
}

afterEach(() => forgetCheckedRows());

describe('prepareRecords', () => {
  it('decodes binary and structured events, checks their records and builds the staged text as the event loop did', () => {
    const data = { pipelineId: spec.id, source: 'unit', records };
    const envelope = { specversion: '1.0', id: 'e2', source: '/unit', type: DataRecordsV1.topic, data };
    const structured = JSON.stringify(envelope);
    const output = prepareRecords(
      input([
        { value: JSON.stringify(data), headers: binary('e1') },
        { value: structured, headers: { 'content-type': 'application/cloudevents+json' } },
      ]),
    );
    const schema = datasetSchema(spec);
    const { good, bad } = checkColumnsOf(schema, JSON.parse(JSON.stringify(records)) as typeof records);
    for (const [i, id] of ['e1', 'e2'].entries()) {
      expect(output[i]).toMatchObject({
        attributes: { id, source: '/unit', type: DataRecordsV1.topic },
        prepared: {
          pipelineId: spec.id,
          source: 'unit',
          rowsJson: JSON.stringify(codedColumns(schema, good)),
          rowCount: 2,
        },
      });
      expect(output[i]?.prepared.bad).toEqual(bad);
    }
    expect(bad.map((item) => item.reason)).toEqual(['record 1: age "forty" is not a number']);
  });

  it('answers null for what the per-record way must see: no CloudEvent, another type, bad data, an unknown pipeline', () => {
    const data = JSON.stringify({ pipelineId: spec.id, records });
    const output = prepareRecords(
      input([
        { value: '{"pipelineId": ', headers: binary('e1') },
        { value: data, headers: binary('e2', 'mlops.other.v1') },
        { value: JSON.stringify({ pipelineId: spec.id, records: [] }), headers: binary('e3') },
        { value: JSON.stringify({ pipelineId: 'other-pipeline', records }), headers: binary('e4') },
        { value: data, headers: { ce_id: 'e5' } },
        { value: data, headers: binary('e6') },
      ]),
    );
    expect(output.map((answer) => answer?.attributes.id ?? null)).toEqual([null, null, null, null, null, 'e6']);
  });
});

describe('checked rows kept for the cut on the same thread', () => {
  it('gives the cut the table that parsing the staged text gives, negative zeros as zeros, and only once', () => {
    // an upstream -0 (JSON.parse keeps its sign; the staged text, a JSON.stringify, holds it as 0)
    const value = JSON.stringify({ pipelineId: spec.id, records }).replace('"age":0', '"age":-0');
    const [answer] = prepareRecords(input([{ value, headers: binary('e1') }]));
    const { rowsJson } = answer!.prepared;
    const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
    // another text (a trailing space) is not in the cache: parsed
    const parsed = stagedTable(schema, [{ rowsJson: `${rowsJson} ` }]);
    const cached = stagedTable(schema, [{ rowsJson }]);
    expect(cached).toEqual(parsed);
    expect(Object.is(cached.columns[0].values[1], 0)).toBe(true);
    // taken by that cut: a second cut of the same text parses it
    expect(takeCheckedRows(rowsJson)).toBeUndefined();
  });
});

describe('columns named like members of Object.prototype, from an event to the cut', () => {
  it('keeps a present constructor or toString value and reads a missing one as null (a __proto__ key never arrives)', () => {
    const named = parsePipelineSpec({
      ...spec,
      features: [
        { name: '__proto__', type: 'categorical' },
        { name: 'constructor', type: 'categorical' },
        { name: 'toString', type: 'numeric' },
      ],
    });
    // JSON text, as a producer sends it: `__proto__` is a key like any other there.
    const value = `{"pipelineId":"${named.id}","records":[{"__proto__":"p","constructor":"c","toString":1,"income":">50K"},{"income":"<=50K"}]}`;
    const [answer] = prepareRecords({
      ...input([{ value, headers: binary('e1') }]),
      specs: [[named.id, named]],
    });
    expect(answer?.prepared.bad).toEqual([]);
    const schema = datasetSchema(named).map(({ name, type }) => ({ name, type }));
    const table = stagedTable(schema, [{ rowsJson: `${answer!.prepared.rowsJson} ` }]);
    expect(table.columns.map((column) => [column.name, column.values])).toEqual([
      // The data-records contract drops a `__proto__` key (what its schema does with it): the column is missing.
      ['__proto__', [null, null]],
      ['constructor', ['c', null]],
      ['toString', [1, null]],
      ['income', ['>50K', '<=50K']],
    ]);
  });
});
