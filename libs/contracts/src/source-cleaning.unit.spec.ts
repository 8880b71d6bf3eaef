import { describe, expect, it } from 'vitest';
import { PipelineSpecV1 } from './pipeline-spec';
import { cleaningSteps, describeCleaning, SourceCleaning } from './source-cleaning';

const base = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'orders',
  task: 'regression',
  target: { column: 'amount' },
  timeColumn: 'at',
  features: [
    { name: 'items', type: 'numeric' },
    { name: 'city', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'rmse' },
} as const;

const source = { kind: 'http', id: 'orders-api', url: 'http://api.example/orders' };

const issues = (cleaning: object) =>
  PipelineSpecV1.safeParse({ ...base, sources: [{ ...source, cleaning }] }).error?.issues.map(
    (issue) => `${issue.path.join('.')}: ${issue.message}`,
  );

const full = {
  rename: { qty: 'items', town: 'city' },
  trim: ['city'],
  cast: { items: 'integer', amount: 'number' },
  missing: { city: { default: 'unknown' }, amount: 'drop' },
  filter: "amount > 0 and city not in ['test']",
  dedupe: { key: ['order_id'] },
} as const;

describe('declared cleaning in the spec', () => {
  it('is optional on HTTP and object-store sources and takes every step; dedupe keeps the last row by default', () => {
    expect(PipelineSpecV1.parse({ ...base, sources: [source] }).sources[0].cleaning).toBeUndefined();
    for (const kind of [source, { kind: 'object-store', id: 'bucket', bucket: 'drops' }]) {
      const parsed = PipelineSpecV1.parse({ ...base, sources: [{ ...kind, cleaning: full }] });
      expect(parsed.sources[0].cleaning).toEqual({ ...full, dedupe: { key: ['order_id'], keep: 'last' } });
    }
    expect(issues({ trim: true })).toBeUndefined();
  });

  it('refuses unknown keys, casts to unsupported types and bad missing rules', () => {
    expect(issues({ lowercase: ['city'] })).toEqual(['sources.0.cleaning: Unrecognized key: "lowercase"']);
    expect(issues({ cast: { items: 'float' } })).toEqual([
      'sources.0.cleaning.cast.items: a cast is to one of string, number, integer, boolean, timestamp',
    ]);
    expect(issues({ missing: { city: 'zero' } })?.[0]).toMatch(/^sources\.0\.cleaning\.missing\.city: /);
    expect(issues({ dedupe: { key: [] } })?.[0]).toMatch(/^sources\.0\.cleaning\.dedupe\.key: /);
  });

  it('says where a filter does not parse', () => {
    expect(issues({ filter: 'amount > and' })).toEqual([
      'sources.0.cleaning.filter: does not parse at character 10: expected a column, a literal or (, found "and"',
    ]);
  });

  it('refuses names rename moved away, two fields renamed to one, casts and defaults the dataset column cannot take', () => {
    expect(issues({ rename: { qty: 'items' }, filter: 'qty > 1', cast: { qty: 'number' } })).toEqual([
      'sources.0.cleaning.cast.qty: qty was renamed to items by rename: name it items here',
      'sources.0.cleaning.filter: qty (at character 1) was renamed to items by rename: name it items here',
    ]);
    expect(issues({ rename: { a: 'items', b: 'items' } })).toEqual([
      'sources.0.cleaning.rename.b: a and b are both renamed to items',
    ]);
    // A swap is fine: each name is still a field after it.
    expect(issues({ rename: { a: 'b', b: 'a' }, trim: ['a', 'b'] })).toBeUndefined();
    expect(issues({ cast: { items: 'boolean', at: 'number' } })).toEqual([
      'sources.0.cleaning.cast.items: items is a number column of the dataset: a cast to boolean would refuse every row (cast it to number or integer)',
      'sources.0.cleaning.cast.at: at is a timestamp column of the dataset: a cast to number would refuse every row (cast it to timestamp or string)',
    ]);
    expect(issues({ missing: { items: { default: 'none' }, at: { default: 'soon' } } })).toEqual([
      'sources.0.cleaning.missing.items.default: items is a number column of the dataset: "none" is not a number',
      'sources.0.cleaning.missing.at.default: at is a timestamp column of the dataset: "soon" is not a timestamp',
    ]);
    expect(issues({ rename: { amount: 'total' } })).toEqual([
      'sources.0.cleaning.rename.amount: amount is a column every row of the dataset needs: renamed to total, nothing would provide it',
    ]);
    expect(issues({ rename: { amount: 'total', gross: 'amount' } })).toBeUndefined();
    expect(
      issues({ cast: { n: 'integer', b: 'boolean' }, missing: { n: { default: 2.5 }, b: { default: 'yes' } } }),
    ).toEqual([
      'sources.0.cleaning.missing.n.default: 2.5 is not an integer, which n is cast to',
      'sources.0.cleaning.missing.b.default: "yes" is not a boolean, which b is cast to',
    ]);
    expect(issues({ dedupe: { key: ['id', 'id'] } })).toEqual([
      'sources.0.cleaning.dedupe.key.1: id is named twice in the key',
    ]);
  });

  it('is named in lineage by a digest of what it declares (not the order of its keys) and its steps in order', () => {
    const cleaning = SourceCleaning.parse(full);
    expect(cleaningSteps(cleaning)).toEqual(['rename', 'trim', 'cast', 'missing', 'filter', 'dedupe']);
    const named = describeCleaning(cleaning);
    expect(named).toMatch(/^cleaned [0-9a-f]{12} \[rename, trim, cast, missing, filter, dedupe\]$/);
    const { dedupe, filter, ...rest } = cleaning;
    const reordered: SourceCleaning = {
      dedupe,
      filter,
      ...rest,
      missing: { amount: 'drop', city: { default: 'unknown' } },
    };
    expect(describeCleaning(reordered)).toBe(named);
    expect(describeCleaning(SourceCleaning.parse({ ...full, filter: 'amount > 1' }))).not.toBe(named);
    expect(describeCleaning(SourceCleaning.parse({ filter: 'amount > 0' }))).toMatch(/\[filter\]$/);
    expect(describeCleaning(SourceCleaning.parse({ rename: {} }))).toBeUndefined();
    expect(describeCleaning(undefined)).toBeUndefined();
  });
});
