import { createHash } from 'node:crypto';
import { pulledValueParser } from './pg-value-text';
import { copyFieldText, type PulledField, type Watermark } from './postgres-reader';

/**
 * A row a pull refused, as its source's dead letter keeps it: enough to check it again after the spec (or the data)
 * is fixed, whatever the source holds by then. A PostgreSQL row is kept as the text COPY printed for each field
 * (never as parsed values: a `NaN` or a bigint's digits would not survive JSON), with the fields' types, so a replay
 * reads it exactly as the pull did.
 */
export interface DeadRow {
  /** Where the source holds it: a PostgreSQL row's (cursor, key) as PostgreSQL prints them. */
  at: Watermark;
  /** Why it was refused, labelled as in the run (`row 12: x "a" is not a number`). */
  reason: string;
  /** JSON text of the row: each field's name to its text as COPY printed it, null for NULL. */
  row: string;
  /** The types of the row's fields (one array for a chunk's dead rows: a worker's answer clones it once). */
  fields: readonly PulledField[];
}

/** A refused PostgreSQL row from the fields of its COPY line (split at tabs, still escaped). */
export function pgDeadRow(
  fields: readonly PulledField[],
  cells: readonly string[],
  where: { cursor: number; key: number },
  reason: string,
): DeadRow {
  const text = (i: number) => (i < cells.length ? copyFieldText(cells[i]) : null);
  // fromEntries defines own properties, so a column named __proto__ is kept as a field.
  const row = Object.fromEntries(fields.map((field, i) => [field.name, text(i)]));
  const at = { cursor: text(where.cursor) ?? '', key: text(where.key) ?? '' };
  return { at, reason, row: JSON.stringify(row), fields };
}

/** A kept PostgreSQL row as the record a pull made of it: each field's text through its type's parser. */
export function pgDeadRecord(fields: readonly PulledField[], row: string): Record<string, unknown> {
  const texts = JSON.parse(row) as Record<string, string | null>;
  // Without a prototype, as copyTextRecords makes them; a name repeated in the result: the last one wins.
  const record = Object.create(null) as Record<string, unknown>;
  for (const field of fields) {
    const text = Object.prototype.hasOwnProperty.call(texts, field.name) ? texts[field.name] : null;
    record[field.name] = text === null ? null : pulledValueParser(field.typeId)(text);
  }
  return record;
}

/**
 * The id of a dead row: what makes it one refusal. A PostgreSQL row is named by its source and its (cursor, key):
 * the same row refused again when a planned chunk is re-read after a crash is the same dead row (kept once), and the
 * row updated upstream (a new cursor) and refused again is a new one.
 */
export function deadRowId(pipelineId: string, sourceId: string, at: Watermark): string {
  return createHash('sha256')
    .update(JSON.stringify([pipelineId, sourceId, at.cursor, at.key]))
    .digest('hex');
}

/** The path of a source's dead letter in ingestion's API (runs name it). */
export const deadRowsPath = (pipelineId: string, sourceId: string) =>
  `/api/v1/pipelines/${pipelineId}/sources/${sourceId}/dead-rows`;
