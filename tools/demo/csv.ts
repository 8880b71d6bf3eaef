import { readFileSync } from 'node:fs';

/**
 * Reads the bundled CSV files, which have a header row and no quoted fields (see their READMEs); a quoted field is
 * refused rather than misread.
 */
export function readSimpleCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((line, i) => {
    if (line.includes('"')) throw new Error(`${path}:${i + 2}: quoted fields are not supported here`);
    const fields = line.split(',');
    if (fields.length !== header.length)
      throw new Error(`${path}:${i + 2}: ${fields.length} fields, expected ${header.length}`);
    return fields;
  });
  return { header, rows };
}
