import { describe, expect, it } from 'vitest';
import { pulledValue, pullQuery, quoteIdent } from './postgres-reader';

describe('pullQuery', () => {
  const cursor = { column: 'updated_at', key: 'id' };

  it('reads a table in (cursor, key) order, from the start when there is no watermark', () => {
    expect(pullQuery({ table: 'public.Orders', cursor }, {})).toEqual({
      text:
        'SELECT keel_source.* FROM "public"."Orders" AS keel_source WHERE keel_source."updated_at" IS NOT NULL ' +
        'ORDER BY keel_source."updated_at", keel_source."id"',
      values: [],
    });
  });

  it('takes the rows past the watermark and up to a planned end, as parameters', () => {
    const query = pullQuery(
      { query: 'SELECT * FROM orders WHERE region = 1;', cursor },
      { after: { cursor: '2026-01-01 00:00:00+00', key: '7' }, upTo: { cursor: '2026-01-02 00:00:00+00', key: '9' } },
    );
    expect(query.text).toContain('FROM (SELECT * FROM orders WHERE region = 1) AS keel_source');
    expect(query.text).toContain(
      '(keel_source."updated_at", keel_source."id") > ($1, $2) AND (keel_source."updated_at", keel_source."id") <= ($3, $4)',
    );
    expect(query.values).toEqual(['2026-01-01 00:00:00+00', '7', '2026-01-02 00:00:00+00', '9']);
  });

  it('quotes identifiers', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });
});

describe('pulledValue', () => {
  it('turns timestamps into ISO text and leaves anything else as it is', () => {
    expect(pulledValue(new Date('2026-01-01T00:00:00.123Z'))).toBe('2026-01-01T00:00:00.123Z');
    expect(pulledValue('1.50')).toBe('1.50');
    expect(pulledValue(null)).toBeNull();
  });
});
