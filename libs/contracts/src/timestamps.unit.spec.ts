import { describe, expect, it } from 'vitest';
import { isTimestampText, timestampTextMs } from './timestamps';

/** `run` with the process in time zone `zone` (Node reads TZ again when it is set). */
function inZone<T>(zone: string, run: () => T): T {
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    return run();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

const ACCEPTED: [string, number][] = [
  ['2024-03-02', Date.UTC(2024, 2, 2)],
  ['2024-03-02T10:00', Date.UTC(2024, 2, 2, 10)],
  ['2024-03-02T10:00:00', Date.UTC(2024, 2, 2, 10)],
  ['2024-03-02 10:00:00', Date.UTC(2024, 2, 2, 10)], // as PostgreSQL prints it
  ['2024-03-02t10:00:00z', Date.UTC(2024, 2, 2, 10)], // RFC 3339 allows lower case
  ['2024-03-02T10:00:00Z', Date.UTC(2024, 2, 2, 10)],
  ['2024-03-02T10:00:00.5Z', Date.UTC(2024, 2, 2, 10, 0, 0, 500)],
  ['2024-03-02 10:00:00.123456789+00', Date.UTC(2024, 2, 2, 10, 0, 0, 123)], // cut to ms, as Date.parse cuts it
  ['2024-03-02T10:00:00+01:00', Date.UTC(2024, 2, 2, 9)],
  ['2024-03-02T10:00:00+0130', Date.UTC(2024, 2, 2, 8, 30)],
  ['2024-03-02T10:00:00-02', Date.UTC(2024, 2, 2, 12)],
  ['2024-03-02 00:30:00+05:45', Date.UTC(2024, 2, 1, 18, 45)],
  ['2024-03-02 10:00:00 +05:30', Date.UTC(2024, 2, 2, 4, 30)], // a blank before the offset
  ['2024-03-02T10:00:00 Z', Date.UTC(2024, 2, 2, 10)],
  ['2024-01-01 00:00:00 UTC', Date.UTC(2024, 0, 1)], // BigQuery's CSV / JSON export of a TIMESTAMP
  ['2024-01-01 00:00:00.5 utc', Date.UTC(2024, 0, 1, 0, 0, 0, 500)],
  ['2024-01-01T10:00:00GMT', Date.UTC(2024, 0, 1, 10)],
  ['2024-02-29', Date.UTC(2024, 1, 29)],
  ['2000-02-29', Date.UTC(2000, 1, 29)],
  [' 2024-03-02T10:00:00Z ', Date.UTC(2024, 2, 2, 10)],
  ['0001-01-01', Date.UTC(2000, 0, 1) - 730_119 * 86_400_000],
  ['1969-12-31T23:59:59.999Z', -1],
  ['+275760-09-13T00:00:00.000Z', 8.64e15], // what toISOString writes of the largest Date
  ['-271821-04-20T00:00:00.000Z', -8.64e15],
];

const REFUSED = [
  '12',
  'user-3',
  'id 5',
  '02/03/2024', // DD/MM or MM/DD: which one is not in the text
  '1704067200000', // digits are epoch ms only as a number
  '20240302', // the ISO basic form: refused rather than guessed
  'yesterday',
  '',
  '2024-3-2',
  '2024-02-30',
  '2023-02-29',
  '1900-02-29',
  '2024-13-01',
  '2024-00-10',
  '2024-03-02T24:00:00',
  '2024-03-02T10:60',
  '2024-03-02T10:00:60Z',
  '2024-03-02T10',
  '2024-03-02T10:00:00+25:00',
  '2024-03-02T10:00:00+01:60',
  '2024-03-02T10:00:00+1',
  '2024-03-02Z',
  '2024-03-02T10:00:00 CET', // only UTC and GMT name their offset
  '2024-03-02 UTC',
  '2024-03-02T10:00:00.Z',
  'Sat, 02 Mar 2024 10:00:00 GMT',
  '+275760-09-13T00:00:00.001Z',
  '-000000-01-01',
];

describe('timestampTextMs', () => {
  it('reads ISO 8601 / RFC 3339 dates and date-times, a zoneless one as UTC', () => {
    for (const [text, ms] of ACCEPTED) expect([text, timestampTextMs(text)]).toEqual([text, ms]);
  });

  it('gives the same instants whatever the process time zone', () => {
    for (const zone of ['Europe/Paris', 'America/Los_Angeles', 'Asia/Kathmandu', 'UTC']) {
      const instants = inZone(zone, () => ACCEPTED.map(([text]) => timestampTextMs(text)));
      expect(instants).toEqual(ACCEPTED.map(([, ms]) => ms));
    }
  });

  it('agrees with Date.parse wherever the text names its zone', () => {
    for (const [text, ms] of ACCEPTED) {
      // Date.parse takes no blank before a Z (it does before an offset).
      const named = text.trim().toUpperCase().replace(/\s+Z$/, 'Z');
      if (/(?:z|[+-]\d\d:\d\d)$/i.test(named)) expect(Date.parse(named)).toBe(ms);
    }
    for (let ms = -8.64e15; ms <= 8.64e15; ms += 7.77e13 + 123) {
      expect(timestampTextMs(new Date(ms).toISOString())).toBe(ms);
    }
  });

  it('refuses ids, numbers as text, other date orders and out-of-range fields', () => {
    for (const text of REFUSED) expect([text, isTimestampText(text)]).toEqual([text, false]);
    expect(timestampTextMs('12')).toBeNaN();
  });

  // A backtracking grammar would hold the event loop on a long fraction that fails at its end (the test's timeout).
  it('refuses a long text that fails at its end in linear time', () => {
    expect(isTimestampText(`2024-03-02T10:00:00.${'1'.repeat(100_000)}x`)).toBe(false);
    expect(isTimestampText(`2024-03-02T10:00:00.${'1'.repeat(100_000)}Z`)).toBe(true);
  });
});
