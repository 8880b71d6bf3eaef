/**
 * The order of an API's cursor values, kept as text: decimal numbers by value, exactly (a nanosecond epoch or an id
 * past 2^53 as a string is beyond a double), RFC 3339 / ISO 8601 times by their instant at full precision (an API
 * may print microseconds or nanoseconds, `Z` or `+00:00`, and a whole second without a fraction: Date.parse keeps
 * milliseconds only, and the text order puts `.000300Z` before `Z`). Written here because the candidates (Temporal,
 * date libraries) stop at nanoseconds or milliseconds and none compares decimal text exactly.
 */
export function compareCursor(a: string, b: string): number {
  const [da, db] = [decimal(a), decimal(b)];
  if (da && db) return compareDecimals(da, db);
  const [ia, ib] = [instant(a), instant(b)];
  if (ia && ib) return compareInstants(ia, ib);
  // Other dates Date.parse reads (RFC 7231's `Wed, 02 Dec 2026 12:00:05 GMT`) carry no fraction to lose.
  const [ta, tb] = [Date.parse(a), Date.parse(b)];
  if (!ia && !ib && !Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return Math.sign(ta - tb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A decimal as sign, significant digits (no leading or trailing zeros) and where its point is among them. */
interface Decimal {
  sign: -1 | 0 | 1;
  digits: string;
  point: number;
}

function decimal(text: string): Decimal | undefined {
  const match = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,9}))?$/.exec(text);
  if (!match) return undefined;
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  const all = whole + fraction;
  const first = all.search(/[1-9]/);
  if (first < 0) return { sign: 0, digits: '', point: 0 };
  return {
    sign: sign === '-' ? -1 : 1,
    digits: all.slice(first).replace(/0+$/, ''),
    point: whole.length + Number(exponent) - first,
  };
}

function compareDecimals(a: Decimal, b: Decimal): number {
  if (a.sign !== b.sign) return Math.sign(a.sign - b.sign);
  // Same sign: the one with more digits before its point is further from zero, else the digits decide.
  const magnitude = a.point !== b.point ? Math.sign(a.point - b.point) : compareDigits(a.digits, b.digits);
  return a.sign * magnitude;
}

/** Two fractions' digit strings as the fractions they are (0.5 > 0.49, 0.5 = 0.50). */
function compareDigits(a: string, b: string): number {
  const length = Math.max(a.length, b.length);
  const [pa, pb] = [a.padEnd(length, '0'), b.padEnd(length, '0')];
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** An instant as whole seconds since the epoch (UTC) and the fraction's digits. */
interface Instant {
  seconds: number;
  fraction: string;
}

/**
 * `2026-01-01`, `2026-01-01T00:00Z`, `2026-01-01 00:00:00.000300+02:00`, `...T00:00:00,5-0530`. A time without a
 * zone is taken as UTC: an API prints all its times one way, so their order is kept whichever zone it means.
 */
function instant(text: string): Instant | undefined {
  const match =
    /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/.exec(
      text,
    );
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone = 'Z'] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return undefined;
  let offsetSeconds = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    offsetSeconds =
      (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2) || 0) * 60);
  }
  const utc = new Date(0).setUTCFullYear(y, mo - 1, d) + ((h * 60 + mi) * 60 + s) * 1000; // years 0-99 too
  return { seconds: utc / 1000 - offsetSeconds, fraction: fraction.replace(/0+$/, '') };
}

function compareInstants(a: Instant, b: Instant): number {
  return Math.sign(a.seconds - b.seconds) || compareDigits(a.fraction, b.fraction);
}
