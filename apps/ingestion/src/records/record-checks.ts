import {
  type DatasetColumnSpec,
  datasetSchema,
  isTimestampText,
  type PipelineSpec,
  TIMESTAMP_FORMS,
} from '@keel/contracts';

/** A record that passed the checks: only the dataset's columns, numbers as numbers, categories as strings. */
export type CleanRecord = Record<string, number | string | null>;

/** A record that failed, with why (`age "forty" is not a number`) and its position in its batch. */
export interface BadRecord {
  index: number;
  record: Readonly<Record<string, unknown>>;
  reason: string;
}

export type RecordCheck = { ok: true; record: CleanRecord } | { ok: false; reason: string };

/**
 * Longest text a numeric cell may hold. A double has at most 17 significant digits; 64 characters leave room for
 * signs, leading zeros and an exponent, and nothing longer is a measurement.
 */
export const MAX_NUMBER_CHARS = 64;

/** Longest text any other cell (category, timestamp, attribute) may hold; longer is a payload, not a value. */
export const MAX_TEXT_CHARS = 4096;

/** Values quoted in a reason are cut to this many characters, so a reason stays a line in a dead-letter header. */
const MAX_QUOTED_CHARS = 40;

// Decimal notation only: Number() would also accept "0x1f", "" and "Infinity", none of which is a measurement. Every
// alternative starts with a different token and `\.\d*` needs its dot, so a failing match backtracks at most once per
// character: linear in the length, where `\d+\.?\d*` tries every split of a digit run (quadratic).
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** True when `text` is a decimal number (`-1.5`, `.5`, `2e3`); linear time in its length. */
export function isDecimal(text: string): boolean {
  return DECIMAL.test(text);
}

function clip(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(clip(value)) : String(value);
}

/** Why a text cell is too long for its column, or undefined when it fits. */
function tooLong(column: DatasetColumnSpec, text: string): string | undefined {
  const limit = column.type === 'number' ? MAX_NUMBER_CHARS : MAX_TEXT_CHARS;
  if (text.length <= limit) return undefined;
  const what = column.type === 'number' ? 'a number' : 'a value';
  return `${column.name} has ${text.length} characters, more than the ${limit} ${what} may have`;
}

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** The value of one column as the dataset stores it, or why it cannot be stored. */
export function cleanValue(
  column: DatasetColumnSpec,
  value: unknown,
): { value: number | string | null } | { problem: string } {
  if (isMissing(value)) {
    if (column.nullable) return { value: null };
    const what = column.role === 'target' ? ' (target)' : column.role === 'time' ? ' (time column)' : '';
    return { problem: `${column.name} is missing${what}` };
  }
  if (typeof value === 'object' || typeof value === 'function') {
    // String(): JSON.stringify answers undefined for what it cannot write (a function), and a reason is still due.
    return { problem: `${column.name} ${clip(String(JSON.stringify(value)))} is not a scalar` };
  }
  // Bounded before any parsing, so the cost of a check never depends on what an upstream system sends.
  if (typeof value === 'string') {
    const problem = tooLong(column, value);
    if (problem) return { problem };
  }
  switch (column.type) {
    case 'number': {
      if (typeof value === 'number') {
        return Number.isFinite(value) ? { value } : { problem: `${column.name} ${value} is not a finite number` };
      }
      if (typeof value === 'string' && isDecimal(value.trim())) {
        // "1e999" is decimal notation but no double: refused like a non-finite number, never stored as Infinity.
        const number = Number(value.trim());
        return Number.isFinite(number)
          ? { value: number }
          : { problem: `${column.name} ${describe(value)} is not a finite number` };
      }
      return { problem: `${column.name} ${describe(value)} is not a number` };
    }
    case 'timestamp': {
      if (typeof value === 'number' && Number.isFinite(value)) {
        // Epoch milliseconds past ±8.64e15 are no date (toISOString would throw): refused, not a failed attempt.
        const date = new Date(value);
        if (Number.isFinite(date.getTime())) return { value: date.toISOString() };
        return { problem: `${column.name} ${value} is not a timestamp` };
      }
      // Kept verbatim, read as UTC when it has no zone (bike sharing's local times), in a strict grammar: Date.parse
      // took ids ("12", "user-3") and DD/MM dates for times, read in the process's time zone.
      if (typeof value === 'string' && isTimestampText(value)) return { value };
      return { problem: `${column.name} ${describe(value)} is not a timestamp: write ${TIMESTAMP_FORMS}` };
    }
    default:
      return { value: String(value) };
  }
}

/** A cell of a checked row: what {@link CleanRecord} holds per column. */
export type CleanCell = CleanRecord[string];

/**
 * Checked records as rows: each row the values of `columns` (the dataset schema's names) in that order. What staging
 * stored before {@link CleanColumns} (the column names once rather than in every record); still read at the cut.
 */
export interface CleanRows {
  columns: string[];
  rows: CleanCell[][];
}

/**
 * Checked records as columns: `values[c]` the cells of column `columns[c]` (the dataset schema's names), one a good
 * record, in their order. What staging stored in session 26 (read at the cut; {@link CodedColumns} since): one array
 * a column rather than one a row, which the staging thread checks into, stringifies and cuts from with less CPU than
 * rows (about 0.4 µs a record of Adult's 15 columns), and which leaves the collector 15 arrays an event to keep until
 * the cut instead of 1,000. Builds before it read only rows: during a rolling upgrade an older replica's cuts of
 * batches a newer one staged fail and are retried (nothing is lost) until a newer replica cuts them; upgrade the
 * replicas together to avoid the failing cuts.
 */
export interface CleanColumns {
  columns: string[];
  values: CleanCell[][];
}

/** A string column of {@link CodedColumns}: its distinct cells in order of first seen, and each row's index in them. */
export interface DictionaryColumn {
  dictionary: CleanCell[];
  codes: number[];
}

/**
 * Checked records as columns, the string columns dictionary-coded: `coded[c]` holds column `columns[c]`, as its cells
 * or, for a string column with few distinct values, a {@link DictionaryColumn}; `rows` is how many records. What
 * staging stores since session 27, instead of {@link CleanColumns}: a category's text is written once an event rather
 * than once a record (stringifying 9 string cells a record was most of the staged text's cost, and Adult's text is a
 * third as long: 40 KB an event of 1,000, not 126), and the staging thread keeps a few strings an event for the cut
 * rather than each record's own. Its key `coded` tells it from the forms staged before, which are still read; builds
 * before it cannot read it (their cut throws and is retried, nothing is lost) until a newer replica cuts it, as with
 * columns.
 */
export interface CodedColumns {
  columns: string[];
  coded: (CleanCell[] | DictionaryColumn)[];
  rows: number;
}

/** A string column is coded when at most this share of its cells are distinct: else its dictionary saves nothing. */
const MAX_DISTINCT_SHARE = 0.5;

/** {@link CleanColumns} as {@link CodedColumns} (string columns of the schema with few distinct cells coded). */
export function codedColumns(schema: readonly DatasetColumnSpec[], good: CleanColumns): CodedColumns {
  const rows = columnsRowCount(good);
  const coded: CodedColumns['coded'] = [];
  for (let c = 0; c < good.values.length; c++) {
    const cells = good.values[c];
    coded.push(schema[c]?.type === 'string' && rows > 1 ? dictionaryCoded(cells, rows) : cells);
  }
  return { columns: good.columns, coded, rows };
}

function dictionaryCoded(cells: readonly CleanCell[], rows: number): DictionaryColumn | CleanCell[] {
  const limit = rows * MAX_DISTINCT_SHARE;
  const indexes = new Map<CleanCell, number>();
  const dictionary: CleanCell[] = [];
  const codes: number[] = [];
  for (let i = 0; i < rows; i++) {
    const cell = cells[i];
    let code = indexes.get(cell);
    if (code === undefined) {
      if (dictionary.length >= limit) return cells as CleanCell[];
      code = dictionary.length;
      indexes.set(cell, code);
      dictionary.push(cell);
    }
    codes.push(code);
  }
  return { dictionary, codes };
}

/**
 * The cells of a coded column, checked: a staged text is read back from the database, so a code that points at no
 * entry fails the cut rather than becoming a cell the records never had.
 */
export function decodedColumn(column: CleanCell[] | DictionaryColumn, rows: number): CleanCell[] {
  if (Array.isArray(column)) {
    if (column.length !== rows) throw new Error(`a staged column has ${column.length} cells, not ${rows}`);
    return column;
  }
  const { dictionary, codes } = column;
  if (codes.length !== rows) throw new Error(`a staged column has ${codes.length} codes, not ${rows}`);
  const cells = new Array<CleanCell>(rows);
  for (let i = 0; i < rows; i++) {
    const cell = dictionary[codes[i]];
    if (cell === undefined || !Number.isInteger(codes[i]))
      throw new Error(`a staged column's code ${codes[i]} is no entry`);
    cells[i] = cell;
  }
  return cells;
}

/** {@link checkColumns} for a pipeline's dataset schema (`datasetSchema(spec)`), when the caller has it at hand. */
export function checkColumnsOf(
  schema: readonly DatasetColumnSpec[],
  records: readonly Readonly<Record<string, unknown>>[],
  label: (index: number) => string = (index) => `record ${index}`,
): { good: CleanColumns; bad: BadRecord[] } {
  const width = schema.length;
  const values: CleanCell[][] = [];
  for (let c = 0; c < width; c++) values.push([]);
  const bad: BadRecord[] = [];
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    for (let c = 0; c < width; c++) {
      // The row cells of checkRow, pushed onto their columns as they pass (no row array a record).
      const column = schema[c];
      const value = record[column.name];
      if (keptAsIs(column, value)) {
        // -0 as 0, as the staged text (a JSON.stringify) holds it: the columns kept for the cut equal a parse of it.
        values[c].push(value === 0 ? 0 : (value as CleanCell));
        continue;
      }
      const result = cleanValue(column, ownValue(record, column.name, value));
      if ('problem' in result) {
        for (let k = 0; k < c; k++) values[k].pop();
        bad.push({ index, record, reason: `${label(index)}: ${result.problem}` });
        break;
      }
      values[c].push(result.value === 0 ? 0 : result.value);
    }
  }
  return { good: { columns: schema.map((column) => column.name), values }, bad };
}

/** {@link checkRecords}, the good records as columns of the dataset schema: what {@link checkRows} does, by column. */
export function checkColumns(
  spec: PipelineSpec,
  records: readonly Readonly<Record<string, unknown>>[],
  label?: (index: number) => string,
): { good: CleanColumns; bad: BadRecord[] } {
  return checkColumnsOf(datasetSchema(spec), records, label);
}

/** Rows in checked columns (a schema has at least its target column). */
export function columnsRowCount(columns: CleanColumns): number {
  return columns.values[0]?.length ?? 0;
}

/** Checks one record against the dataset schema, as a row of the schema's columns, or says why it fails. */
export function checkRow(
  schema: readonly DatasetColumnSpec[],
  record: Readonly<Record<string, unknown>>,
): { ok: true; row: CleanCell[] } | { ok: false; reason: string } {
  const row: CleanCell[] = new Array(schema.length);
  for (let i = 0; i < schema.length; i++) {
    const column = schema[i];
    const value = record[column.name];
    if (keptAsIs(column, value)) {
      row[i] = value as CleanCell;
      continue;
    }
    const result = cleanValue(column, ownValue(record, column.name, value));
    if ('problem' in result) return { ok: false, reason: result.problem };
    row[i] = result.value;
  }
  return { ok: true, row };
}

/**
 * `value`, read as `record[name]`, when the record has the column itself; undefined when it was inherited. A column
 * may be named `constructor`, `toString` or `__proto__`, which a record without it inherits from Object.prototype (a
 * function, or the prototype itself): read as a value, a missing nullable column threw or was dead-lettered. The
 * checks ask only for cells {@link keptAsIs} did not take: what Object.prototype holds is functions and an object,
 * never a number or a string it keeps, so the common cell costs no extra lookup (nor does any other primitive).
 */
function ownValue(record: Readonly<Record<string, unknown>>, name: string, value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  return Object.hasOwn(record, name) ? value : undefined;
}

/**
 * Whether cleanValue would keep `value` as it is, answered without asking it (no result object per cell) for the
 * common cells: a finite number in a number column, or in a text column a string within the text limit that starts
 * with a printable ASCII character (so it is not blank). False means "ask cleanValue".
 */
export function keptAsIs(column: DatasetColumnSpec, value: unknown): boolean {
  if (column.type === 'number') return typeof value === 'number' && Number.isFinite(value);
  if (column.type !== 'string' || typeof value !== 'string' || value.length > MAX_TEXT_CHARS) return false;
  const first = value.charCodeAt(0);
  return first > 0x20 && first < 0x7f;
}

/** {@link checkRecords}, the good records as rows of the dataset schema's columns. */
export function checkRows(
  spec: PipelineSpec,
  records: readonly Readonly<Record<string, unknown>>[],
  label: (index: number) => string = (index) => `record ${index}`,
): { good: CleanRows; bad: BadRecord[] } {
  const schema = datasetSchema(spec);
  const rows: CleanCell[][] = [];
  const bad: BadRecord[] = [];
  for (let index = 0; index < records.length; index++) {
    const result = checkRow(schema, records[index]);
    if (result.ok) rows.push(result.row);
    else bad.push({ index, record: records[index], reason: `${label(index)}: ${result.reason}` });
  }
  return { good: { columns: schema.map((column) => column.name), rows }, bad };
}

/** Checks one record against the dataset schema of a pipeline and keeps only its columns. */
export function checkRecord(
  schema: readonly DatasetColumnSpec[],
  record: Readonly<Record<string, unknown>>,
): RecordCheck {
  // No prototype: a column named `__proto__` is a key like any other, not the object's prototype.
  const clean = Object.create(null) as CleanRecord;
  for (const column of schema) {
    const result = cleanValue(column, ownValue(record, column.name, record[column.name]));
    if ('problem' in result) return { ok: false, reason: result.problem };
    clean[column.name] = result.value;
  }
  return { ok: true, record: clean };
}

/**
 * Splits a batch into clean records and bad ones; one bad record never blocks the others. `label` names a record
 * in reasons, e.g. `record 3` for an event's records (0-based) or `line 5` for a CSV file.
 */
export function checkRecords(
  spec: PipelineSpec,
  records: readonly Readonly<Record<string, unknown>>[],
  label: (index: number) => string = (index) => `record ${index}`,
): { good: CleanRecord[]; bad: BadRecord[] } {
  const schema = datasetSchema(spec);
  const good: CleanRecord[] = [];
  const bad: BadRecord[] = [];
  records.forEach((record, index) => {
    const result = checkRecord(schema, record);
    if (result.ok) good.push(result.record);
    else bad.push({ index, record, reason: `${label(index)}: ${result.reason}` });
  });
  return { good, bad };
}
