/**
 * The text forms a timestamp cell may take, said in every refusal and in the README ("Data in"): ISO 8601 / RFC 3339
 * dates and date-times. A number is epoch milliseconds, but only as a number (JSON, Parquet): in text, a run of digits
 * is no time (it may be an id, seconds, milliseconds or the ISO basic date 20240302), so CSV cells, whose every value is
 * text, hold times in these forms.
 */
export const TIMESTAMP_FORMS =
  'an ISO 8601 date or date-time (2024-03-02, 2024-03-02T10:00:00Z, 2024-03-02 10:00:00.250+01:00, ' +
  '2024-03-02 10:00:00 UTC; no zone is UTC) or epoch milliseconds as a JSON or Parquet number';

/**
 * A date (`YYYY`, or the `±YYYYYY` JavaScript writes beyond year 9999), then optionally `T` (or the space PostgreSQL
 * prints) and `hh:mm`, seconds, a fraction of any length, and a zone (`Z`, `±hh:mm`, `±hhmm`, `±hh`, or `UTC` / `GMT`
 * in any case, as BigQuery's exports and PostgreSQL print it), which a blank may precede (`10:00:00 +05:30`). Every
 * part is a fixed run of digits or one optional group, so a failing match is linear in the text's length.
 */
const TIMESTAMP =
  /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:[ \t]*(?:([Zz]|[Uu][Tt][Cc]|[Gg][Mm][Tt])|([+-])(\d{2})(?::?(\d{2}))?))?)?$/;

const MS_PER_DAY = 86_400_000;
/** The largest time a Date holds, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), exact for any year. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Epoch milliseconds of a timestamp's text in {@link TIMESTAMP_FORMS} (surrounding blanks ignored), or NaN for any
 * other text. A date or date-time without a zone is UTC: the same cell gives the same instant on every machine (a
 * point-in-time join's boundary must not move with the process's time zone), which `Date.parse` does not promise
 * (`2024-01-01 10:00` is local time to it) and which it breaks further by reading "12", "user-3" or the DD/MM
 * "02/03/2024" as dates. Out-of-range fields (2024-02-30, 24:00, an offset of +25) are refused, not rolled over;
 * a fraction is cut to milliseconds, as `Date.parse` cuts it. Arithmetic, not a Date, so a check costs no allocation.
 */
export function timestampTextMs(text: string): number {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) return Number.NaN;
  const [
    ,
    yearText,
    monthText,
    dayText,
    hourText,
    minuteText,
    secondText,
    fraction,
    utc,
    sign,
    zoneHours,
    zoneMinutes,
  ] = match;
  // -000000 is no year in ISO 8601's expanded form (ECMAScript refuses it too).
  if (yearText === '-000000') return Number.NaN;
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  const hour = hourText === undefined ? 0 : Number(hourText);
  const minute = minuteText === undefined ? 0 : Number(minuteText);
  const second = secondText === undefined ? 0 : Number(secondText);
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  let offsetMinutes = 0;
  if (sign !== undefined && utc === undefined) {
    const hours = Number(zoneHours);
    const minutes = zoneMinutes === undefined ? 0 : Number(zoneMinutes);
    if (hours > 23 || minutes > 59) return Number.NaN;
    offsetMinutes = (sign === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const millis = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const ms =
    daysFromCivil(year, month, day) * MS_PER_DAY + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
  return Math.abs(ms) <= MAX_TIME_MS ? ms : Number.NaN;
}

/** Whether `text` is a timestamp in {@link TIMESTAMP_FORMS}. */
export function isTimestampText(text: string): boolean {
  return !Number.isNaN(timestampTextMs(text));
}
