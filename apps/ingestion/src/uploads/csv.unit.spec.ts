import { describe, expect, it } from 'vitest';
import { CsvError, CsvParser, parseCsv } from './csv';

function errorOf(text: string): CsvError {
  try {
    parseCsv(text);
  } catch (error) {
    return error as CsvError;
  }
  throw new Error('expected a CsvError');
}

describe('parseCsv', () => {
  it('reads a header and rows with LF or CRLF line ends and a missing final line break', () => {
    // given a small file mixing line ends
    const text = 'a,b\r\n1,2\n3,4';
    // when parsed
    const parsed = parseCsv(text);
    // then every row is there with the line it starts on
    expect(parsed.header).toEqual(['a', 'b']);
    expect(parsed.rows).toEqual([
      { line: 2, fields: ['1', '2'] },
      { line: 3, fields: ['3', '4'] },
    ]);
  });

  it('reads quoted fields with commas, escaped quotes and line breaks, and empty fields', () => {
    const parsed = parseCsv('name,note,n\n"Smith, J","said ""hi""\nthen left",\n"",x,1\n');
    expect(parsed.rows).toEqual([
      { line: 2, fields: ['Smith, J', 'said "hi"\nthen left', ''] },
      { line: 4, fields: ['', 'x', '1'] },
    ]);
  });

  it('ignores blank lines at the end and a byte order mark', () => {
    expect(parseCsv('\ufeffa,b\n1,2\n\n\n')).toEqual({ header: ['a', 'b'], rows: [{ line: 2, fields: ['1', '2'] }] });
  });

  it('rejects a truncated last row, naming its line and field count', () => {
    const error = errorOf('a,b,c\n1,2,3\n4,5');
    expect(error).toBeInstanceOf(CsvError);
    expect(error.message).toBe('line 3: expected 3 fields, found 2');
  });

  it('rejects an unterminated quote at the line it opened', () => {
    expect(errorOf('a,b\n1,2\n3,"never closed\n4,5\n').message).toBe(
      'line 3: unterminated quoted field (is the file truncated?)',
    );
  });

  it('rejects text after a closing quote and a quote inside an unquoted field', () => {
    expect(errorOf('a,b\n"x"y,2\n').message).toBe('line 2: unexpected "y" after a closing quote');
    expect(errorOf('a,b\nx"y,2\n').message).toBe('line 2: a quote inside an unquoted field');
  });

  it('rejects an empty file and duplicate or empty header names', () => {
    expect(errorOf('').message).toBe('line 1: the file is empty (no header)');
    expect(errorOf('a,a\n1,2\n').message).toBe('line 1: the header names column "a" twice');
    expect(errorOf('a,,b\n1,2,3\n').message).toBe('line 1: the header has an empty column name');
  });
});

describe('CsvParser', () => {
  function records(pieces: string[]): { line: number; fields: string[] }[] {
    const out: { line: number; fields: string[] }[] = [];
    const parser = new CsvParser((fields, line) => out.push({ line, fields }));
    for (const piece of pieces) parser.push(piece);
    parser.end();
    return out;
  }

  it('gives the same records wherever the text is cut, even inside a CRLF, a "" escape or a quoted line break', () => {
    // given a text with every construct that spans characters
    const text = '\ufeffname,note\r\n"Smith, J","said ""hi""\r\nthen left"\r\n\r\nx,""\n"",\n\n';
    const whole = records([text]);
    expect(whole).toEqual([
      { line: 1, fields: ['name', 'note'] },
      { line: 2, fields: ['Smith, J', 'said "hi"\r\nthen left'] },
      { line: 4, fields: [''] },
      { line: 5, fields: ['x', ''] },
      { line: 6, fields: ['', ''] },
    ]);
    // when it arrives in two pieces cut at every position, or one character at a time
    for (let cut = 0; cut <= text.length; cut++) expect(records([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
    expect(records([...text])).toEqual(whole);
  });

  it('fails on an unterminated quote or text after a closing quote across pieces', () => {
    expect(() => records(['a\n"open', 'ed'])).toThrow('line 2: unterminated quoted field (is the file truncated?)');
    expect(() => records(['a\n"x"', 'y\n'])).toThrow('line 2: unexpected "y" after a closing quote');
  });
});
