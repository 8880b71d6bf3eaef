/** A CSV file that cannot be read; `line` is 1-based, as an editor shows it. */
export class CsvError extends Error {
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'CsvError';
  }
}

/** A parsed CSV file: the header and the data rows, each with the line it starts on. */
export interface ParsedCsv {
  header: string[];
  rows: { line: number; fields: string[] }[];
}

/**
 * An incremental RFC 4180 parser: comma-separated fields, CRLF or LF line ends, double-quoted fields that may hold
 * commas, line breaks and "" escapes. Text goes in chunk by chunk (a chunk may end anywhere, even between the two
 * characters of a CRLF or a "" escape) and each record comes out as soon as it is complete, so a file is never held
 * whole. Written here because no CSV library is installed and the format is small; unlike lenient parsers it rejects
 * what a truncated or hand-edited file looks like (an unterminated quote, text after a closing quote), because a file
 * is ingested all or nothing. Blank lines at the end of the file are an editor's habit and are dropped.
 */
export class CsvParser {
  private fields: string[] = [];
  private field = '';
  /** `quoted`: inside a quoted field; `quote`: a quote inside one, escape or end not yet known; `closed`: after one. */
  private state: 'plain' | 'quoted' | 'quote' | 'closed' = 'plain';
  private quoteOpenedAt = 1;
  private line = 1;
  private recordLine = 1;
  private started = false;
  /** The last chunk ended in a CR: an LF opening the next one belongs to it. */
  private pendingCr = false;
  /** Lines of blank records seen but not yet passed on: they are dropped if nothing but blanks follows. */
  private blankLines: number[] = [];
  private records = 0;

  constructor(private readonly onRecord: (fields: string[], line: number) => void) {}

  /** Parses the next piece of the text. */
  push(text: string): void {
    let i = 0;
    const n = text.length;
    if (!this.started && n > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte order mark is not part of the first column name
    }
    if (this.pendingCr) {
      this.pendingCr = false;
      if (i < n && text.charCodeAt(i) === LF) i++;
    }
    while (i < n) {
      if (this.state === 'quote') {
        // The quote before this character either escaped a quote ("") or closed the field.
        if (text.charCodeAt(i) === QUOTE) {
          this.field += '"';
          this.state = 'quoted';
          i++;
          continue;
        }
        this.state = 'closed';
      }
      if (this.state === 'quoted') {
        const close = text.indexOf('"', i);
        const end = close < 0 ? n : close;
        for (let k = text.indexOf('\n', i); k >= 0 && k < end; k = text.indexOf('\n', k + 1)) this.line++;
        this.field += text.slice(i, end);
        if (close < 0) return;
        this.state = 'quote';
        i = close + 1;
        continue;
      }
      const code = text.charCodeAt(i);
      if (this.state === 'closed') {
        if (code !== COMMA && code !== LF && code !== CR) {
          throw new CsvError(this.line, `unexpected ${JSON.stringify(text[i])} after a closing quote`);
        }
        this.state = 'plain';
      }
      if (code === COMMA) {
        this.fields.push(this.field);
        this.field = '';
        i++;
      } else if (code === LF || code === CR) {
        this.endRecord();
        if (code === CR) {
          if (i + 1 === n) this.pendingCr = true;
          else if (text.charCodeAt(i + 1) === LF) i++;
        }
        i++;
        this.line++;
        this.recordLine = this.line;
      } else if (code === QUOTE) {
        if (this.field !== '') throw new CsvError(this.line, 'a quote inside an unquoted field');
        this.state = 'quoted';
        this.quoteOpenedAt = this.line;
        i++;
      } else {
        let end = i + 1;
        while (end < n) {
          const c = text.charCodeAt(end);
          if (c === COMMA || c === LF || c === CR || c === QUOTE) break;
          end++;
        }
        this.field += text.slice(i, end);
        i = end;
      }
    }
  }

  /** Ends the text: passes on a last record without a line break, and fails on an unterminated quote. */
  end(): void {
    if (this.state === 'quoted')
      throw new CsvError(this.quoteOpenedAt, 'unterminated quoted field (is the file truncated?)');
    if (this.field !== '' || this.fields.length > 0 || this.state !== 'plain') this.endRecord();
    this.blankLines = [];
    if (this.records === 0) throw new CsvError(1, 'the file is empty (no header)');
  }

  private endRecord(): void {
    this.fields.push(this.field);
    const fields = this.fields;
    this.fields = [];
    this.field = '';
    this.state = 'plain';
    if (fields.length === 1 && fields[0] === '') {
      this.blankLines.push(this.recordLine);
      return;
    }
    for (const line of this.blankLines) this.emit([''], line);
    this.blankLines = [];
    this.emit(fields, this.recordLine);
  }

  private emit(fields: string[], line: number): void {
    this.records++;
    this.onRecord(fields, line);
  }
}

const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

/** The header's column names, trimmed; fails on an empty or repeated name. */
export function checkHeader(fields: readonly string[]): string[] {
  const header = fields.map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of header) {
    if (name === '') throw new CsvError(1, 'the header has an empty column name');
    if (seen.has(name)) throw new CsvError(1, `the header names column "${name}" twice`);
    seen.add(name);
  }
  return header;
}

/** Parses a whole CSV text (see {@link CsvParser}); every row must have as many fields as the header. */
export function parseCsv(text: string): ParsedCsv {
  const records: { line: number; fields: string[] }[] = [];
  const parser = new CsvParser((fields, line) => records.push({ line, fields }));
  parser.push(text);
  parser.end();
  const [headerRecord, ...rows] = records;
  const header = checkHeader(headerRecord.fields);
  for (const row of rows) {
    if (row.fields.length !== header.length) {
      throw new CsvError(row.line, `expected ${header.length} fields, found ${row.fields.length}`);
    }
  }
  return { header, rows };
}
