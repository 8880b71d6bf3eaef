import { type DatasetColumnSpec, type SourceCleaning } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { type CleanCell, checkRow } from '../records/record-checks';
import { type CleanedRow, DedupeIndex, type DroppedRows, noneDropped, rowCleaner } from './row-cleaning';

/**
 * The rows of one dataset version, as a source's pull reads them: each row through the source's declared cleaning
 * (if any), then the dataset's checks, then dedupe by key (if declared), into the columns of the dataset schema.
 * Every row is accounted for: kept, dropped by a step (`dropped`, by step), or refused with a reason (`rejected`).
 * A source without cleaning gets exactly what checking its rows gave before (the same values, so the same bytes).
 *
 *   const rows = new CleanTable(schema, source.cleaning);
 *   for (const row of read) rows.add(row, `row ${key}`);
 *   const table = rows.table();
 */
export class CleanTable {
  readonly dropped: DroppedRows = noneDropped();
  /** The first `maxRejections` reasons (`row 12: ...`); `rejected` counts them all. */
  readonly rejections: string[] = [];
  rowsRead = 0;
  rejected = 0;
  /** The reason the last refused row was refused, labelled (`row 12: ...`): a dead letter keeps every one. */
  lastRefusal = '';
  private readonly clean: ((row: unknown) => CleanedRow) | undefined;
  private readonly dedupe: DedupeIndex | undefined;
  /** Where each dedupe key field is in the dataset schema (-1: not a dataset column). */
  private readonly keyColumns: number[];
  private readonly values: CleanCell[][];
  /** Rows stored in `values`, and which of them a later duplicate replaced (keep-last). */
  private slots = 0;
  private readonly replaced = new Set<number>();
  private storing = true;

  constructor(
    readonly schema: readonly DatasetColumnSpec[],
    cleaning: SourceCleaning | undefined,
    private readonly maxRejections = 20,
  ) {
    this.clean = rowCleaner(cleaning);
    this.dedupe = DedupeIndex.of(cleaning);
    this.keyColumns = (this.dedupe?.key ?? []).map((name) => schema.findIndex((column) => column.name === name));
    this.values = schema.map(() => []);
  }

  /** Rows held in memory: those kept so far and those a later row of their key replaced (their values stay). */
  get held(): number {
    return this.slots;
  }

  /** Rows kept so far (after dedupe). */
  get goodRows(): number {
    return this.slots - this.replaced.size;
  }

  /** Takes one source row; false when it was refused (dropped rows are not refusals). */
  add(row: unknown, label: string): boolean {
    this.rowsRead++;
    let record = row as Readonly<Record<string, unknown>>;
    if (this.clean) {
      const cleaned = this.clean(row);
      if (cleaned.kind === 'dropped') {
        this.dropped[cleaned.by]++;
        return true;
      }
      if (cleaned.kind === 'refused') return this.refuse(label, cleaned.reason);
      record = cleaned.record;
    }
    const checked = checkRow(this.schema, record);
    if (!checked.ok) return this.refuse(label, checked.reason);
    const slot = this.slots;
    const drop = this.dedupe ? this.dedupe.add(this.keyOf(record, checked.row), slot) : -1;
    if (drop >= 0) this.dropped.dedupe++;
    if (drop === slot) return true;
    if (drop >= 0) this.replaced.add(drop);
    this.slots++;
    if (this.storing) for (let c = 0; c < this.values.length; c++) this.values[c].push(checked.row[c]);
    return true;
  }

  /** A row's dedupe key: the stored (checked) value of a dataset column, the cleaned value of any other field. */
  private keyOf(record: Readonly<Record<string, unknown>>, row: readonly CleanCell[]): unknown[] {
    return this.dedupe!.key.map((name, k) => {
      const column = this.keyColumns[k];
      if (column >= 0) return row[column];
      return Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined;
    });
  }

  /** Stops holding values (an all-or-nothing file that already failed): counting goes on, `table` is unusable. */
  stopStoring(): void {
    this.storing = false;
    for (const column of this.values) column.length = 0;
  }

  /** The kept rows in the source's order, as a table of the dataset schema. */
  table(): DatasetTable {
    if (!this.storing) throw new Error('the rows were not stored');
    const keep = (values: CleanCell[]) =>
      this.replaced.size === 0 ? values : values.filter((_, slot) => !this.replaced.has(slot));
    return {
      rowCount: this.goodRows,
      columns: this.schema.map(({ name, type }, c) => ({ name, type, values: keep(this.values[c]) })),
    };
  }

  /** Counts a row refused with its reason (also one refused before it got here: not an object, say). */
  refuse(label: string, reason: string): false {
    this.rejected++;
    this.lastRefusal = `${label}: ${reason}`;
    if (this.rejections.length < this.maxRejections) this.rejections.push(this.lastRefusal);
    return false;
  }
}
