/**
 * Fast paths for the commonest values of a PostgreSQL pull's COPY text, read straight from the chunk's bytes without
 * a string, a parser call or an unescape per value (the pull's worker spent most of its decoding time there).
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
 * The number a plain decimal `bytes[start, end)` (`-?digits(.digits)?`, at most 15 digits) denotes, or NaN when it is
 * anything else (NULL, an exponent, NaN, Infinity, more digits, an escape): the caller then takes the general path.
 * Exact, so the same double `parseFloat` and `Number` give: the digits form an integer below 2^53 and the scale a
 * power of ten a double holds exactly, so the one division is correctly rounded (Clinger's fast path).
 */
export function plainDecimal(bytes: Uint8Array, start: number, end: number): number {
  let at = start;
  const negative = at < end && bytes[at] === 0x2d;
  if (negative) at++;
  const first = at;
  let mantissa = 0;
  let dot = -1;
  for (; at < end; at++) {
    const code = bytes[at];
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

/** True when `bytes[start, end)` holds no backslash: COPY text that is the value itself (not NULL, nothing escaped). */
export function unescaped(bytes: Uint8Array, start: number, end: number): boolean {
  for (let at = start; at < end; at++) if (bytes[at] === 0x5c) return false;
  return true;
}

/** Longest value {@link CopyTextStrings} makes once and hands out again. */
const INTERNED_BYTES = 32;
/** Slots of its table (a power of two): a column of up to some hundreds of distinct short values is made once. */
const INTERN_SLOTS = 4_096;

/**
 * The strings of a chunk's text values, as UTF-8 decoding their bytes gives them. A short ASCII value (a category,
 * a code) is looked up by its bytes in a table kept across chunks and made only when it is not there, so a column of
 * few distinct values costs no string a row (nor the collector the garbage of 50,000 of them a chunk), and the same
 * value is the same string for the Parquet dictionary's lookups. Equal strings are equal values: what a caller gets
 * is what decoding the bytes gives, whether made now or before.
 */
export class CopyTextStrings {
  private readonly table: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);

  /** The UTF-8 text of `view[start, end)`. */
  text(view: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > INTERNED_BYTES) return view.toString('utf8', start, end);
    // FNV-1a over the bytes; any byte past ASCII sends the value the general way.
    let hash = 0x811c9dc5;
    for (let at = start; at < end; at++) {
      const byte = view[at];
      if (byte >= 0x80) return view.toString('utf8', start, end);
      hash = Math.imul(hash ^ byte, 0x01000193);
    }
    const slot = (hash ^ (hash >>> 15)) & (INTERN_SLOTS - 1);
    const known = this.table[slot];
    if (known !== undefined && known.length === length) {
      let at = 0;
      while (at < length && known.charCodeAt(at) === view[start + at]) at++;
      if (at === length) return known;
    }
    // ASCII: latin1 decoding gives what UTF-8 decoding does, without the validation.
    const made = view.toString('latin1', start, end);
    this.table[slot] = made;
    return made;
  }
}

/** Most significant digits {@link longDecimal} takes: what PostgreSQL prints for a double (shortest exact, 17 at most). */
const MAX_LONG_DIGITS = 17;
/** The largest power of ten a double holds exactly. */
const MAX_EXACT_POWER = 22;
/** Powers of ten up to 10^22, each exact as a double. */
const POW10_EXACT = Array.from({ length: MAX_EXACT_POWER + 1 }, (_, i) => 10 ** i);
/** Veltkamp's splitter for doubles: 2^27 + 1. */
const SPLITTER = 134_217_729;
/**
 * How far either side of the quotient {@link longDecimal} makes sure rounds the same way, relative to it: far more than
 * its arithmetic's error (about 2^-100), far less than half a step between doubles (2^-53).
 */
const SLACK = 2 ** -80;

/** The rounding error of `a * b` (`product`), exactly: Dekker's product, without an FMA. */
function productError(a: number, b: number, product: number): number {
  let t = SPLITTER * a;
  const aHigh = t - (t - a);
  const aLow = a - aHigh;
  t = SPLITTER * b;
  const bHigh = t - (t - b);
  const bLow = b - bHigh;
  return aLow * bLow - (product - aHigh * bHigh - aLow * bHigh - aHigh * bLow);
}

/**
 * The double a plain decimal `bytes[start, end)` of up to 17 significant digits (`-?digits(.digits)?`, what
 * PostgreSQL prints for most computed doubles) denotes, correctly rounded as parseFloat rounds it; NaN when it is
 * anything else, or too close to halfway between two doubles to tell here (the caller then asks parseFloat). The
 * digits m (below 10^17) are held exactly as a sum of two doubles; the quotient q = m / 10^k is rounded once and the
 * remainder m - q * 10^k computed exactly (Dekker's product), so the true value is q + remainder / 10^k to about
 * 2^-100 of it: when that value, moved either way by far more than this error, still rounds to one double, it is
 * the double nearest the decimal (rounding is monotonic), else (a tie, or nearly) the caller decides.
 */
export function longDecimal(bytes: Uint8Array, start: number, end: number): number {
  let at = start;
  const negative = at < end && bytes[at] === 0x2d;
  if (negative) at++;
  const first = at;
  // The digits as high * 10^lowDigits + low, each part below 10^9 and so exact.
  let high = 0;
  let low = 0;
  let lowDigits = 0;
  let digits = 0;
  let significant = 0;
  let dot = -1;
  for (; at < end; at++) {
    const code = bytes[at];
    if (code >= 0x30 && code <= 0x39) {
      digits++;
      // Leading zeros (`0.0123`) leave m as it is.
      if (significant === 0 && code === 0x30) continue;
      if (++significant > MAX_LONG_DIGITS) return NaN;
      if (significant <= 9) high = high * 10 + (code - 0x30);
      else {
        low = low * 10 + (code - 0x30);
        lowDigits++;
      }
    } else if (code === 0x2e && dot < 0) dot = at;
    else return NaN;
  }
  if (digits === 0 || dot === first || dot === end - 1) return NaN;
  const scale = dot < 0 ? 0 : end - dot - 1;
  if (scale > MAX_EXACT_POWER) return NaN;
  if (significant === 0) return negative ? -0 : 0;
  // m = high * 10^lowDigits + low, exactly mHigh + mLow (a product's error, then Knuth's sum, then renormalized).
  const shift = POW10_EXACT[lowDigits];
  const product = high * shift;
  const productLow = productError(high, shift, product);
  const sum = product + low;
  const virtual = sum - product;
  const sumLow = product - (sum - virtual) + (low - virtual) + productLow;
  const mHigh = sum + sumLow;
  const mLow = sumLow - (mHigh - sum);
  const power = POW10_EXACT[scale];
  const quotient = mHigh / power;
  // The remainder m - quotient * power: the high parts cancel exactly (Sterbenz), the rest is small and near exact.
  const times = quotient * power;
  const remainder = mHigh - times + (mLow - productError(quotient, power, times));
  const delta = remainder / power;
  const slack = quotient * SLACK;
  const below = quotient + (delta - slack);
  if (below !== quotient + (delta + slack)) return NaN;
  return negative ? -below : below;
}
