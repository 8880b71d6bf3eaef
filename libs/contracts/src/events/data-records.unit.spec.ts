import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataRecordsV1 } from './data-records';

const quickCheck = DataRecordsV1.quickCheck!;
const accepts = (data: unknown) => DataRecordsV1.schema.safeParse(data).success;

const good = { pipelineId: 'adult-income', source: 'crm', records: [{ age: 39, sex: 'Male', ok: true, gap: null }] };

describe('DataRecordsV1.quickCheck', () => {
  it('vouches for well-formed events, which the schema returns unchanged', () => {
    for (const data of [good, { ...good, observedAt: '2026-01-01T00:00:00Z' }, { pipelineId: 'ab', records: [{}] }]) {
      expect(quickCheck(data)).toBe(true);
      expect(DataRecordsV1.schema.parse(data)).toEqual(data);
    }
  });

  it('defers to the schema on anything it does not vouch for', () => {
    const cases: unknown[] = [
      null,
      [],
      { ...good, extra: 1 },
      { ...good, pipelineId: 'Adult' },
      { ...good, source: '' },
      { ...good, source: 'x'.repeat(201) },
      { ...good, observedAt: 'yesterday' },
      { ...good, records: [] },
      { ...good, records: Array.from({ length: 10_001 }, () => ({ a: 1 })) },
      { ...good, records: [{ '': 1 }] },
      { ...good, records: [{ a: { b: 1 } }] },
      { ...good, records: [{ a: [1] }] },
      { ...good, records: [{ a: Number.NaN }] },
      { ...good, records: [{ a: Number.POSITIVE_INFINITY }] },
      { ...good, records: [{ a: undefined }] },
      { ...good, records: [JSON.parse('{"__proto__": 1}')] },
      { ...good, records: [new Date()] },
    ];
    for (const data of cases) expect(quickCheck(data)).toBe(false);
  });

  it('never vouches for what the schema refuses, nor changes what it accepts (property)', () => {
    const key = fc.oneof(fc.constantFrom('', 'age', '__proto__', 'a.b', '$x'), fc.string({ maxLength: 4 }));
    const cell = fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.array(fc.integer(), { maxLength: 1 }),
      fc.dictionary(fc.string({ maxLength: 2 }), fc.integer(), { maxKeys: 1 }),
    );
    const data = fc.record(
      {
        pipelineId: fc.oneof(fc.constantFrom('adult-income', 'A', 'a', '-x', 'ok-1'), fc.string({ maxLength: 8 })),
        records: fc.oneof(fc.array(fc.dictionary(key, cell, { maxKeys: 4 }), { maxLength: 3 }), fc.constant(null)),
        source: fc.oneof(fc.string({ maxLength: 3 }), fc.integer()),
        observedAt: fc.constantFrom('2026-01-01T00:00:00Z', '2026-01-01', 'x'),
        extra: fc.integer(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(data, (value) => {
        if (!quickCheck(value)) return;
        // What it accepts nests no deeper than it says (decoding skips the depth scan for it).
        expect(depthOf(value)).toBeLessThanOrEqual(DataRecordsV1.quickCheckedDepth!);
        const parsed = DataRecordsV1.schema.safeParse(value);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(value);
      }),
      { numRuns: 2_000 },
    );
    expect(accepts(good)).toBe(true);
  });
});

/** Arrays and objects inside each other, the value itself counting 1 (0 for a scalar). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}
