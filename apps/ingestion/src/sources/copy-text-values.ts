/**
 * Fast paths for the commonest values of a PostgreSQL pull's COPY text, read straight from the chunk's text without
 * a substring, a parser call or an unescape per value (the pull's worker spent most of its decoding time there).
 * Each gives exactly what the general path (copyFieldText, node-postgres's parser, the record checks) gives, or
 * declines and leaves the value to it; pg-chunk.task.unit.spec.ts checks both paths against each other.
 */

/** int8, numeric: node-postgres gives their text, which the record checks read as a decimal. */
export const DECIMAL_TYPE_IDS: ReadonlySet<number> = new Set([20, 1700]);

/** float4, float8: node-postgres reads them with parseFloat. */
export const FLOAT_TYPE_IDS: ReadonlySet<number> = new Set([700, 701]);

/** int2, int4: node-postgres reads them with parseInt. */
export const INTEGER_TYPE_IDS: ReadonlySet<number> = new Set([21, 23]);

/** text, varchar, bpchar, name: node-postgres returns their text unparsed. */
export const TEXT_TYPE_IDS: ReadonlySet<number> = new Set([25, 1043, 1042, 19]);

/** Powers of ten a double holds exactly (up to 1e22; a plain decimal here has at most 15 digits). */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/** Most digits of a decimal taken here: below 2^53, so the digits accumulate exactly in a double. */
const MAX_DIGITS = 15;

/**
 * The number a plain decimal `text[start, end)` (`-?digits(.digits)?`, at most 15 digits) denotes, or NaN when it is
 * anything else (NULL, an exponent, NaN, Infinity, more digits, an escape): the caller then takes the general path.
 * Exact, so the same double `parseFloat` and `Number` give: the digits form an integer below 2^53 and the scale a
 * power of ten a double holds exactly, so the one division is correctly rounded (Clinger's fast path).
 */
export function plainDecimal(text: string, start: number, end: number): number {
  let at = start;
  const negative = at < end && text.charCodeAt(at) === 0x2d;
  if (negative) at++;
  const first = at;
  let mantissa = 0;
  let dot = -1;
  for (; at < end; at++) {
    const code = text.charCodeAt(at);
    if (code >= 0x30 && code <= 0x39) mantissa = mantissa * 10 + (code - 0x30);
    else if (code === 0x2e && dot < 0) dot = at;
    else return NaN;
  }
  const digits = end - first - (dot < 0 ? 0 : 1);
  if (digits === 0 || digits > MAX_DIGITS) return NaN;
  let value = mantissa;
  if (dot >= 0) {
    // Digits on both sides of the dot, as PostgreSQL prints them (`.5` and `5.` go the general way).
    if (dot === first || dot === end - 1) return NaN;
    value = mantissa / POW10[end - dot - 1];
  }
  return negative ? -value : value;
}

/** True when `text[start, end)` holds no backslash: COPY text that is the value itself (not NULL, nothing escaped). */
export function unescaped(text: string, start: number, end: number): boolean {
  for (let at = start; at < end; at++) if (text.charCodeAt(at) === 0x5c) return false;
  return true;
}
