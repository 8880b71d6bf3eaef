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
 * An RFC 4180 parser: comma-separated fields, CRLF or LF line ends, double-quoted fields that may hold commas, line
 * breaks and "" escapes. Written here because no CSV library is installed and the format is small; unlike lenient
 * parsers it rejects what a truncated or hand-edited file looks like (an unterminated quote, text after a closing
 * quote, a row with the wrong number of fields), because a file is ingested all or nothing.
 */
export function parseCsv(text: string): ParsedCsv {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 byte order mark is not part of the first column name
  const n = text.length;
  const endRecord = () => {
    fields.push(field);
    records.push({ line: recordLine, fields });
    fields = [];
    field = '';
  };
  while (i < n) {
    const ch = text[i];
    if (ch === '"' && field === '') {
      // Quoted field: read to the closing quote.
      const openedAt = line;
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i];
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        if (c === '\n') line++;
        field += c;
        i++;
      }
      if (!closed) throw new CsvError(openedAt, 'unterminated quoted field (is the file truncated?)');
      const next = text[i];
      if (i < n && next !== ',' && next !== '\n' && next !== '\r') {
        throw new CsvError(line, `unexpected ${JSON.stringify(next)} after a closing quote`);
      }
      continue;
    }
    if (ch === ',') {
      fields.push(field);
      field = '';
      i++;
    } else if (ch === '\n' || ch === '\r') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else if (ch === '"') {
      throw new CsvError(line, 'a quote inside an unquoted field');
    } else {
      field += ch;
      i++;
    }
  }
  // The last record may or may not end with a line break.
  if (field !== '' || fields.length > 0 || (n > 0 && text[n - 1] === '"')) endRecord();
  // Blank lines at the end are an editor's habit, not records.
  while (
    records.length > 0 &&
    records[records.length - 1].fields.length === 1 &&
    records[records.length - 1].fields[0] === ''
  ) {
    records.pop();
  }
  if (records.length === 0) throw new CsvError(1, 'the file is empty (no header)');
  const [headerRecord, ...rows] = records;
  const header = headerRecord.fields.map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of header) {
    if (name === '') throw new CsvError(1, 'the header has an empty column name');
    if (seen.has(name)) throw new CsvError(1, `the header names column "${name}" twice`);
    seen.add(name);
  }
  for (const row of rows) {
    if (row.fields.length !== header.length) {
      throw new CsvError(row.line, `expected ${header.length} fields, found ${row.fields.length}`);
    }
  }
  return { header, rows };
}
