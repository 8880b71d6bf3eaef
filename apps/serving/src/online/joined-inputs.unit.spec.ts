import { type OnlineView } from '@keel/datasets';
import { type SignatureInput, type SignatureJoin } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { InvalidInferInputError } from '../inference/tensor-codec';
import { decodeJoinedInputs, joinLookups } from './joined-inputs';
import { OnlineViewIndex } from './compact-view';
import { OnlineViewUnavailableError } from './online-view-unavailable';

const signature: SignatureInput[] = [
  { name: 'tenure', datatype: 'FP64', kind: 'numeric', nullable: false },
  { name: 'balance', datatype: 'FP64', kind: 'numeric', nullable: true },
  { name: 'segment', datatype: 'BYTES', kind: 'categorical', nullable: true },
];
const joins: SignatureJoin[] = [
  { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance', 'segment'], maxAgeMs: 86_400_000 },
];
const day = (d: number) => Date.parse(`2026-01-${String(d).padStart(2, '0')}T00:00:00Z`);
const view: OnlineView = {
  format: 'keel.online-view',
  version: 1,
  features: [
    { name: 'balance', type: 'number' },
    { name: 'segment', type: 'string' },
  ],
  entities: {
    a: [
      [day(9), [10, 'gold']],
      [day(20), [99, 'future']],
    ],
    b: [[day(1), [5, 'old']]],
  },
};
const views = new Map([['customer-features', OnlineViewIndex.of(view)]]);
const bytes = (...values: string[]) => ({
  datatype: 'BYTES',
  shape: [values.length],
  contents: { bytesContents: values.map((v) => Buffer.from(v)) },
});
const fp64 = (...values: number[]) => ({
  datatype: 'FP64',
  shape: [values.length],
  contents: { fp64Contents: values },
});
const request = (...inputs: object[]) => ({ inputs, rawInputContents: [] }) as never;

describe('decodeJoinedInputs', () => {
  it("fills joined features from the entity's latest values at request time, missing when stale or unknown", () => {
    const decoded = decodeJoinedInputs(
      request({ name: 'tenure', ...fp64(1, 2, 3, 4) }, { name: 'customer_id', ...bytes('a', 'b', 'zz', '__proto__') }),
      signature,
      joins,
      views,
      day(10),
    );
    expect(decoded.rows).toBe(4);
    expect(Object.keys(decoded.columns)).toEqual(['tenure', 'balance', 'segment']);
    // a: its day-9 values (the future-dated row waits); b: older than a day; zz, __proto__: unknown entities
    expect([...(decoded.columns.balance as Float64Array)]).toEqual([10, Number.NaN, Number.NaN, Number.NaN]);
    expect(decoded.columns.segment).toEqual(['gold', null, null, null]);
  });

  it('serves a future-dated row once its time has come, and takes a joined feature the request gives', () => {
    const decoded = decodeJoinedInputs(
      request(
        { name: 'tenure', ...fp64(1) },
        { name: 'customer_id', ...bytes('a') },
        { name: 'segment', ...bytes('x') },
      ),
      signature,
      joins,
      views,
      day(20),
    );
    expect([...(decoded.columns.balance as Float64Array)]).toEqual([99]);
    expect(decoded.columns.segment).toEqual(['x']);
  });

  it('refuses a request without the entity key, or with rows that do not match it, naming the input', () => {
    expect(() => decodeJoinedInputs(request({ name: 'tenure', ...fp64(1) }), signature, joins, views, day(10))).toThrow(
      'missing input "customer_id": the entity key feature table "customer-features" is looked up by',
    );
    try {
      decodeJoinedInputs(request({ name: 'tenure', ...fp64(1) }), signature, joins, views, day(10));
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInferInputError);
      expect((error as InvalidInferInputError).input).toBe('customer_id');
    }
    expect(() =>
      decodeJoinedInputs(
        request({ name: 'tenure', ...fp64(1, 2) }, { name: 'customer_id', ...bytes('a') }),
        signature,
        joins,
        views,
        day(10),
      ),
    ).toThrow(/the inputs have 2 rows but the entity keys have 1/);
    // a request giving every joined feature needs no key
    const given = decodeJoinedInputs(
      request({ name: 'tenure', ...fp64(1) }, { name: 'balance', ...fp64(7) }, { name: 'segment', ...bytes('y') }),
      signature,
      joins,
      views,
      day(10),
    );
    expect(given.columns.segment).toEqual(['y']);
    // only the key: the model's own required input is still required
    expect(() =>
      decodeJoinedInputs(request({ name: 'customer_id', ...bytes('a') }), signature, joins, views, day(10)),
    ).toThrow(/missing required input "tenure"/);
  });

  it('takes an entity key sent with every joined feature, and drops it: not a model input', () => {
    const decoded = decodeJoinedInputs(
      request(
        { name: 'tenure', ...fp64(1) },
        { name: 'customer_id', ...bytes('a') },
        { name: 'balance', ...fp64(7) },
        { name: 'segment', ...bytes('y') },
      ),
      signature,
      joins,
      new Map(), // no view needed, none given
      day(10),
    );
    expect(Object.keys(decoded.columns)).toEqual(['tenure', 'balance', 'segment']);
    expect([...(decoded.columns.balance as Float64Array)]).toEqual([7]);
  });

  it('looks up only joins the request leaves a feature of out (their views alone are loaded)', () => {
    const two: SignatureJoin[] = [...joins, { pipeline: 'stores', entityKey: 'store_id', features: ['tenure'] }];
    const given = request({ name: 'balance', ...fp64(7) }, { name: 'segment', ...bytes('y') });
    expect(joinLookups(given, signature, two).map((join) => join.pipeline)).toEqual(['stores']);
    expect(joinLookups(request({ name: 'tenure', ...fp64(1) }), signature, two).map((j) => j.pipeline)).toEqual([
      'customer-features',
    ]);
  });

  it('answers UNAVAILABLE, not missing values, when the view lacks a wanted feature (built for another join)', () => {
    const older: OnlineView = { ...view, features: [{ name: 'balance', type: 'number' }], entities: { a: [] } };
    const call = () =>
      decodeJoinedInputs(
        request({ name: 'tenure', ...fp64(1) }, { name: 'customer_id', ...bytes('a') }),
        signature,
        joins,
        new Map([['customer-features', OnlineViewIndex.of(older)]]),
        day(10),
      );
    expect(call).toThrow(OnlineViewUnavailableError);
    expect(call).toThrow(/has no "segment" \(built for another definition/);
  });

  it('gives a row with an empty entity key missing joined features, as training does, not a refused batch', () => {
    const decoded = decodeJoinedInputs(
      request({ name: 'tenure', ...fp64(1, 2) }, { name: 'customer_id', ...bytes('a', '') }),
      signature,
      joins,
      views,
      day(10),
    );
    expect([...(decoded.columns.balance as Float64Array)]).toEqual([10, Number.NaN]);
    expect(decoded.columns.segment).toEqual(['gold', null]);
  });
});
