import { type ColumnType } from '@keel/contracts';
import { type DatasetTable } from './table';

/**
 * Keel's own Parquet writer for dataset tables. Why not a library: every version of every path (the PostgreSQL
 * pull's chunk worker, the Kafka cut, uploads, features) is encoded here, on two busy cores, and the libraries were
 * the cost. Measured on the ingestion benches' tables (`node -r @swc-node/register tools/bench/parquet-encode.ts`):
 * hyparquet-writer 0.17 (pure JS, what this replaces) spends most of its time in generic per-value machinery
 * (dictionary trials, page splitting, its own snappy), even uncompressed; parquet-wasm 0.8 needs an Arrow table
 * first and apache-arrow's builders alone cost more than hyparquet-writer. Our tables are flat and of four
 * physical shapes only, so a writer specialized to them is small: DOUBLE (`number`, `integer`), BYTE_ARRAY UTF8
 * (`string`, `timestamp`) and BOOLEAN, every column OPTIONAL (definition levels, RLE/bit-packed hybrid), values
 * PLAIN or, when a cheap sample says the column repeats, RLE_DICTIONARY; v1 data pages (what every reader reads),
 * one page a column chunk, row groups of at most {@link ROW_GROUP_ROWS} rows, a Thrift compact footer, no
 * statistics (no reader here prunes by them). Its choices depend only on the values, so the same table and metadata
 * give the same bytes (versions are addressed by their sha256).
 */

/** Compresses a page body; deterministic (same input, same output). */
export interface PageCodec {
  /** Parquet's CompressionCodec enum value (UNCOMPRESSED 0, SNAPPY 1, ZSTD 6, ...). */
  readonly id: number;
  compress(body: Uint8Array): Uint8Array;
}

export const UNCOMPRESSED: PageCodec = { id: 0, compress: (body) => body };

/** Rows a row group holds at most: bounds a reader's memory a column chunk; our chunks and cuts fit in one. */
export const ROW_GROUP_ROWS = 1_048_576;

/**
 * A data page ends once its values reach about this many bytes (as hyparquet-writer's pages did): bounds the page a
 * reader holds and the scratch the encoder grows; our chunks' and cuts' columns fit in one page each.
 */
export const PAGE_BYTES = 1_048_576;

// Parquet enums (parquet.thrift).
const TYPE_BOOLEAN = 0;
const TYPE_DOUBLE = 5;
const TYPE_BYTE_ARRAY = 6;
const OPTIONAL = 1;
const CONVERTED_UTF8 = 0;
const ENCODING_PLAIN = 0;
const ENCODING_RLE = 3;
const ENCODING_RLE_DICTIONARY = 8;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;

// Thrift compact protocol type ids.
const CT_I32 = 5;
const CT_I64 = 6;
const CT_BINARY = 8;
const CT_LIST = 9;
const CT_STRUCT = 12;

const CREATED_BY = 'keel-datasets version 1.0.0';

type Physical = typeof TYPE_BOOLEAN | typeof TYPE_DOUBLE | typeof TYPE_BYTE_ARRAY;
const PHYSICAL: Record<ColumnType, Physical> = {
  number: TYPE_DOUBLE,
  integer: TYPE_DOUBLE,
  string: TYPE_BYTE_ARRAY,
  // ISO 8601 text: timestamps in upstream records are local times without zones (bike sharing), kept verbatim.
  timestamp: TYPE_BYTE_ARRAY,
  boolean: TYPE_BOOLEAN,
};

/** A growable byte buffer, reused across calls (one a thread) so that encoding a chunk allocates little. */
class Sink {
  bytes = new Uint8Array(1 << 16);
  view = new DataView(this.bytes.buffer);
  pos = 0;

  reserve(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.pos++] = value;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  varint(value: number): void {
    this.reserve(10);
    const bytes = this.bytes;
    while (value >= 0x80) {
      bytes[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    bytes[this.pos++] = value;
  }

  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.pos);
    this.pos += data.length;
  }

  /** UTF-8 of a string (lone surrogates as U+FFFD, as TextEncoder writes them); returns its byte length. */
  utf8(text: string): number {
    const length = text.length;
    this.reserve(length * 3);
    const bytes = this.bytes;
    const start = this.pos;
    let at = start;
    for (let i = 0; i < length; i++) {
      let code = text.charCodeAt(i);
      if (code < 0x80) {
        bytes[at++] = code;
        continue;
      }
      if (code < 0x800) {
        bytes[at++] = 0xc0 | (code >> 6);
        bytes[at++] = 0x80 | (code & 0x3f);
        continue;
      }
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          i++;
          bytes[at++] = 0xf0 | (code >> 18);
          bytes[at++] = 0x80 | ((code >> 12) & 0x3f);
          bytes[at++] = 0x80 | ((code >> 6) & 0x3f);
          bytes[at++] = 0x80 | (code & 0x3f);
          continue;
        }
        code = 0xfffd;
      }
      bytes[at++] = 0xe0 | (code >> 12);
      bytes[at++] = 0x80 | ((code >> 6) & 0x3f);
      bytes[at++] = 0x80 | (code & 0x3f);
    }
    this.pos = at;
    return at - start;
  }

  /** A copy of bytes [from, pos). */
  copy(from: number): Uint8Array {
    return this.bytes.slice(from, this.pos);
  }

  /** Drops the buffer for a small one. */
  release(): void {
    this.bytes = new Uint8Array(1 << 16);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  /** Bytes [from, pos), not copied: valid until the sink is written again. */
  written(from: number): Uint8Array {
    return this.bytes.subarray(from, this.pos);
  }
}

/** The Thrift compact protocol, only what the footer and page headers use. */
class Thrift {
  private last: number[] = [];
  private field = 0;

  constructor(readonly out: Sink) {}

  private header(id: number, type: number): void {
    const delta = id - this.field;
    if (delta > 0 && delta <= 15) this.out.byte((delta << 4) | type);
    else {
      this.out.byte(type);
      this.out.varint(zigzag(id));
    }
    this.field = id;
  }

  i32(id: number, value: number): void {
    this.header(id, CT_I32);
    this.out.varint(zigzag(value));
  }

  i64(id: number, value: number): void {
    this.header(id, CT_I64);
    this.out.varint(zigzag(value));
  }

  string(id: number, value: string): void {
    this.header(id, CT_BINARY);
    this.binary(value);
  }

  binary(value: string): void {
    // Metadata strings are short: encode once to learn the length, then write.
    const encoded = Buffer.from(value, 'utf8');
    this.out.varint(encoded.length);
    this.out.raw(encoded);
  }

  beginStruct(id: number): void {
    this.header(id, CT_STRUCT);
    this.push();
  }

  /** Opens a struct that is a list element (no field header). */
  push(): void {
    this.last.push(this.field);
    this.field = 0;
  }

  end(): void {
    this.out.byte(0);
    this.field = this.last.pop() ?? 0;
  }

  list(id: number, elementType: number, size: number): void {
    this.header(id, CT_LIST);
    this.listHeader(elementType, size);
  }

  listHeader(elementType: number, size: number): void {
    if (size < 15) this.out.byte((size << 4) | elementType);
    else {
      this.out.byte(0xf0 | elementType);
      this.out.varint(size);
    }
  }

  /** Ends the top-level struct. */
  stop(): void {
    this.out.byte(0);
  }
}

function zigzag(value: number): number {
  // Exact for |value| < 2^52 (file offsets and sizes), unlike 32-bit shifts.
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** One column chunk's pages as written, for its ColumnMetaData. */
interface ChunkMeta {
  type: Physical;
  name: string;
  dictionary: boolean;
  values: number;
  start: number;
  dictionaryOffset: number;
  dataOffset: number;
  uncompressed: number;
  compressed: number;
}

/**
 * The Parquet bytes of a table. Throws, naming the column, on a value that is not of its column's type (as
 * hyparquet-writer did); NaN and -0 are written as they are.
 */
export function encodeParquet(
  table: DatasetTable,
  kvMetadata: readonly { key: string; value: string }[],
  codec: PageCodec,
  rowGroupRows = ROW_GROUP_ROWS,
  pageBytes = PAGE_BYTES,
): Buffer {
  for (const column of table.columns) {
    // A lone surrogate would be written as U+FFFD, and two such names could become one.
    if (LONE_SURROGATE.test(column.name))
      throw new Error(`column name ${JSON.stringify(column.name)} is not valid UTF-16`);
    if (PHYSICAL[column.type] === undefined) throw new Error(`column "${column.name}" has unknown type ${column.type}`);
    if (column.values.length !== table.rowCount) {
      throw new Error(`column "${column.name}" has ${column.values.length} values for ${table.rowCount} rows`);
    }
  }
  const parts: Uint8Array[] = [MAGIC];
  let offset = MAGIC.length;
  const groups: { rows: number; chunks: ChunkMeta[] }[] = [];
  for (let start = 0; start < table.rowCount; start += rowGroupRows) {
    const end = Math.min(table.rowCount, start + rowGroupRows);
    const chunks: ChunkMeta[] = [];
    for (const column of table.columns) {
      const written = writeChunk(
        column.name,
        PHYSICAL[column.type],
        column.values,
        start,
        end,
        codec,
        offset,
        pageBytes,
      );
      for (const part of written.parts) {
        parts.push(part);
        offset += part.length;
      }
      chunks.push(written.meta);
    }
    groups.push({ rows: end - start, chunks });
  }
  const footer = footerBytes(table, groups, kvMetadata, codec.id);
  parts.push(footer);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(footer.length, 0);
  tail.set(MAGIC, 4);
  parts.push(tail);
  releaseLargeScratch();
  return Buffer.concat(parts);
}

const MAGIC = Buffer.from('PAR1', 'latin1');
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Per-thread scratch: page bodies are built here, then compressed (or copied) out. */
const body = new Sink();
const header = new Sink();

function writeChunk(
  name: string,
  type: Physical,
  values: readonly (number | string | boolean | null)[],
  start: number,
  end: number,
  codec: PageCodec,
  offset: number,
  pageBytes: number,
): { parts: Uint8Array[]; meta: ChunkMeta } {
  const rows = end - start;
  let nonNull = 0;
  for (let i = start; i < end; i++) if (values[i] !== null && values[i] !== undefined) nonNull++;
  const parts: Uint8Array[] = [];
  const meta: ChunkMeta = {
    type,
    name,
    dictionary: false,
    values: rows,
    start: offset,
    dictionaryOffset: -1,
    dataOffset: offset,
    uncompressed: 0,
    compressed: 0,
  };
  const page = (pageType: number, count: number, encoding: number, uncompressedBody: Uint8Array): void => {
    const compressed = codec.compress(uncompressedBody);
    // Page sizes are Thrift i32s; only one value past 2 GiB could make a page that large.
    if (uncompressedBody.length > 0x7fffffff || compressed.length > 0x7fffffff) {
      throw new Error(`column "${name}": a page of ${uncompressedBody.length} bytes passes Parquet's 2 GiB page limit`);
    }
    header.pos = 0;
    const thrift = new Thrift(header);
    thrift.i32(1, pageType);
    thrift.i32(2, uncompressedBody.length);
    thrift.i32(3, compressed.length);
    if (pageType === PAGE_DATA) {
      thrift.beginStruct(5);
      thrift.i32(1, count);
      thrift.i32(2, encoding);
      thrift.i32(3, ENCODING_RLE);
      thrift.i32(4, ENCODING_RLE);
      thrift.end();
    } else {
      thrift.beginStruct(7);
      thrift.i32(1, count);
      thrift.i32(2, ENCODING_PLAIN);
      thrift.end();
    }
    thrift.stop();
    const head = header.copy(0);
    // The body is a view of the scratch buffer, reused for the next page: keep a copy unless the codec made one.
    parts.push(head, compressed === uncompressedBody ? uncompressedBody.slice() : compressed);
    meta.uncompressed += head.length + uncompressedBody.length;
    meta.compressed += head.length + compressed.length;
    offset += head.length + compressed.length;
  };

  const dictionary = dictionaryOf(name, type, values, start, end, nonNull);
  if (dictionary) {
    meta.dictionary = true;
    meta.dictionaryOffset = offset;
    body.pos = 0;
    if (type === TYPE_DOUBLE) writeDoubles(name, dictionary.entries as number[], 0, dictionary.entries.length);
    else writeStrings(name, dictionary.entries as string[], 0, dictionary.entries.length);
    page(PAGE_DICTIONARY, dictionary.entries.length, ENCODING_PLAIN, body.written(0));
    meta.dataOffset = offset;
  }

  // Data pages v1: [definition levels, 4-byte length first][values]; all compressed together. Split where the
  // values reach pageBytes (an estimate from the values alone, so the split is deterministic).
  const width = dictionary ? Math.max(1, Math.ceil(Math.log2(dictionary.entries.length))) : 0;
  let pageStart = start;
  let index = 0; // the page's first non-null value's place among the chunk's non-null values
  while (pageStart < end) {
    let pageEnd = pageStart;
    let pageNonNull = 0;
    let size = 0;
    while (pageEnd < end && size < pageBytes) {
      const value = values[pageEnd++];
      if (value === null || value === undefined) continue;
      pageNonNull++;
      size += dictionary
        ? width / 8
        : type === TYPE_DOUBLE
          ? 8
          : type === TYPE_BOOLEAN
            ? 0.125
            : 4 + (typeof value === 'string' ? value.length : 0);
    }
    body.pos = 0;
    body.reserve(4);
    body.pos = 4;
    writeDefinitionLevels(values, pageStart, pageEnd, pageNonNull);
    body.view.setUint32(0, body.pos - 4, true);
    if (dictionary) {
      body.byte(width);
      writeHybrid(dictionary.indexes, index, index + pageNonNull, width);
    } else if (type === TYPE_DOUBLE) writeDoubles(name, values, pageStart, pageEnd);
    else if (type === TYPE_BYTE_ARRAY) writeStrings(name, values, pageStart, pageEnd);
    else writeBooleans(name, values, pageStart, pageEnd, pageNonNull);
    page(PAGE_DATA, pageEnd - pageStart, dictionary ? ENCODING_RLE_DICTIONARY : ENCODING_PLAIN, body.written(0));
    index += pageNonNull;
    pageStart = pageEnd;
  }
  return { parts, meta };
}

function refuse(name: string, expected: string, value: unknown): never {
  throw new Error(`column "${name}": expected ${expected} values, got ${typeof value} (${String(value)})`);
}

function writeDoubles(name: string, values: readonly unknown[], start: number, end: number): void {
  body.reserve((end - start) * 8);
  const view = body.view;
  let at = body.pos;
  for (let i = start; i < end; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'number') refuse(name, 'number', value);
    view.setFloat64(at, value, true);
    at += 8;
  }
  body.pos = at;
}

function writeStrings(name: string, values: readonly unknown[], start: number, end: number): void {
  for (let i = start; i < end; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') refuse(name, 'string', value);
    body.reserve(4);
    const at = body.pos;
    body.pos += 4;
    const length = body.utf8(value);
    body.view.setUint32(at, length, true);
  }
}

function writeBooleans(name: string, values: readonly unknown[], start: number, end: number, nonNull: number): void {
  const size = Math.ceil(nonNull / 8);
  body.reserve(size);
  const bytes = body.bytes;
  bytes.fill(0, body.pos, body.pos + size);
  let bit = 0;
  for (let i = start; i < end; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'boolean') refuse(name, 'boolean', value);
    if (value) bytes[body.pos + (bit >> 3)] |= 1 << (bit & 7);
    bit++;
  }
  body.pos += size;
}

/** Definition levels of an OPTIONAL column (1 present, 0 null), bit width 1. */
function writeDefinitionLevels(values: readonly unknown[], start: number, end: number, nonNull: number): void {
  const rows = end - start;
  if (rows === 0) return;
  if (nonNull === rows || nonNull === 0) {
    // One RLE run: the common case (no nulls) costs two or three bytes.
    body.varint(rows * 2);
    body.byte(nonNull === rows ? 1 : 0);
    return;
  }
  const levels = scratchLevels(rows);
  for (let i = 0; i < rows; i++) levels[i] = values[start + i] === null || values[start + i] === undefined ? 0 : 1;
  writeHybrid(levels, 0, rows, 1);
}

// Scratch arrays reused across columns and calls: a chunk's levels and dictionary indexes are garbage at once.
let levelScratch = new Int32Array(0);
function scratchLevels(rows: number): Int32Array {
  if (levelScratch.length < rows) levelScratch = new Int32Array(Math.max(rows, levelScratch.length * 2));
  return levelScratch;
}

let indexScratch = new Int32Array(0);
function scratchIndexes(count: number): Int32Array {
  if (indexScratch.length < count) indexScratch = new Int32Array(Math.max(count, indexScratch.length * 2));
  return indexScratch;
}

/** Scratch past this many bytes is let go after a table: one large upload should not pin its pages' memory. */
const KEPT_SCRATCH_BYTES = 16 * 1024 * 1024;

/** Bytes of scratch the encoder holds now (for tests). */
export function encoderScratchBytes(): number {
  return body.bytes.length + header.bytes.length + levelScratch.byteLength + indexScratch.byteLength;
}

function releaseLargeScratch(): void {
  if (body.bytes.length > KEPT_SCRATCH_BYTES) body.release();
  if (header.bytes.length > KEPT_SCRATCH_BYTES) header.release();
  if (levelScratch.byteLength > KEPT_SCRATCH_BYTES) levelScratch = new Int32Array(0);
  if (indexScratch.byteLength > KEPT_SCRATCH_BYTES) indexScratch = new Int32Array(0);
}

/**
 * The RLE/bit-packed hybrid of values[from, to) at the given bit width, decided in blocks of eight: a run of
 * blocks that each repeat one value is an RLE run, a run of other blocks is a bit-packed run, the last partial block
 * joins the bit-packed run before it (padded) or is a short RLE run of its own when it repeats one value.
 */
function writeHybrid(values: Int32Array, from: number, to: number, width: number): void {
  const count = to - from;
  const valueBytes = (width + 7) >> 3;
  body.reserve(Math.ceil(count / 8) * (width + 12) + 32);
  let i = from;
  let packedStart = -1; // start of the open bit-packed run
  const flushPacked = (until: number): void => {
    if (packedStart < 0) return;
    const groups = Math.ceil((until - packedStart) / 8);
    body.varint(groups * 2 + 1);
    packBits(values, packedStart, until, groups * 8, width);
    packedStart = -1;
  };
  while (i < to) {
    const blockEnd = Math.min(to, i + 8);
    const first = values[i];
    let uniform = true;
    for (let j = i + 1; j < blockEnd; j++) {
      if (values[j] !== first) {
        uniform = false;
        break;
      }
    }
    if (uniform && (blockEnd - i === 8 || packedStart < 0)) {
      // Extend the run as far as the value repeats, in whole blocks (or to the end).
      let runEnd = blockEnd;
      while (runEnd < to && values[runEnd] === first) runEnd++;
      if (runEnd < to) runEnd = i + Math.floor((runEnd - i) / 8) * 8;
      flushPacked(i);
      body.varint((runEnd - i) * 2);
      for (let b = 0; b < valueBytes; b++) body.byte((first >>> (8 * b)) & 0xff);
      i = runEnd;
      continue;
    }
    if (packedStart < 0) packedStart = i;
    i = blockEnd;
  }
  flushPacked(to);
}

/** Bit-packs values[from, until) LSB first at the given width (at most 24), zero-padded to `padded` values. */
function packBits(values: Int32Array, from: number, until: number, padded: number, width: number): void {
  const bytes = body.bytes;
  let at = body.pos;
  let acc = 0;
  let bits = 0;
  for (let i = from; i < from + padded; i++) {
    // Fewer than 8 bits wait in acc, so acc stays within 32 bits for widths up to 24.
    acc |= (i < until ? values[i] : 0) << bits;
    bits += width;
    while (bits >= 8) {
      bytes[at++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) bytes[at++] = acc & 0xff;
  body.pos = at;
}

/** Sampled values a column's dictionary trial looks at; it is tried when at most half of them are distinct. */
const SAMPLE = 512;

interface Dictionary {
  entries: (number | string)[];
  /** Each non-null value's entry, in row order. */
  indexes: Int32Array;
}

/**
 * The column's dictionary (distinct values in order of first appearance) when the column repeats enough for it to
 * pay: a strided sample decides whether to try (hyparquet-writer built whole dictionaries of unique columns before
 * giving up, a good part of its time), and the trial gives up once the distinct values pass half the non-null ones.
 * Deterministic: it depends only on the values.
 */
function dictionaryOf(
  name: string,
  type: Physical,
  values: readonly (number | string | boolean | null)[],
  start: number,
  end: number,
  nonNull: number,
): Dictionary | undefined {
  if (nonNull < 16 || type === TYPE_BOOLEAN) return undefined;
  const rows = end - start;
  const sampled = Math.min(SAMPLE, rows);
  const seen = new Set<unknown>();
  let looked = 0;
  for (let s = 0; s < sampled; s++) {
    const value = values[start + Math.floor((s * rows) / sampled)];
    if (value === null || value === undefined) continue;
    looked++;
    seen.add(value);
  }
  if (looked === 0 || seen.size * 2 > looked) return undefined;
  return type === TYPE_DOUBLE
    ? doubleDictionary(name, values, start, end, nonNull)
    : stringDictionary(name, values, start, end, nonNull);
}

// Two copies of one loop, so that each Map sees one key type (V8 keeps them fast that way).
function stringDictionary(
  name: string,
  values: readonly unknown[],
  start: number,
  end: number,
  nonNull: number,
): Dictionary | undefined {
  const limit = nonNull >> 1;
  const index = new Map<string, number>();
  const entries: string[] = [];
  const indexes = scratchIndexes(nonNull);
  let k = 0;
  for (let i = start; i < end; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') refuse(name, 'string', value);
    let at = index.get(value);
    if (at === undefined) {
      at = entries.length;
      if (at >= limit) return undefined;
      entries.push(value);
      index.set(value, at);
    }
    indexes[k++] = at;
  }
  return { entries, indexes };
}

/** As {@link stringDictionary}; -0 is kept apart from 0 (a Map takes them as one key), NaN is one entry. */
function doubleDictionary(
  name: string,
  values: readonly unknown[],
  start: number,
  end: number,
  nonNull: number,
): Dictionary | undefined {
  const limit = nonNull >> 1;
  const index = new Map<number, number>();
  const entries: number[] = [];
  const indexes = scratchIndexes(nonNull);
  let k = 0;
  let negativeZero = -1;
  for (let i = start; i < end; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'number') refuse(name, 'number', value);
    let at: number | undefined;
    if (value === 0 && 1 / value < 0) {
      if (negativeZero < 0) {
        negativeZero = entries.length;
        if (negativeZero >= limit) return undefined;
        entries.push(-0);
      }
      at = negativeZero;
    } else {
      at = index.get(value);
      if (at === undefined) {
        at = entries.length;
        if (at >= limit) return undefined;
        entries.push(value);
        index.set(value, at);
      }
    }
    indexes[k++] = at;
  }
  return { entries, indexes };
}

function footerBytes(
  table: DatasetTable,
  groups: readonly { rows: number; chunks: ChunkMeta[] }[],
  kvMetadata: readonly { key: string; value: string }[],
  codec: number,
): Uint8Array {
  const out = new Sink();
  const t = new Thrift(out);
  t.i32(1, 1); // version
  t.list(2, CT_STRUCT, table.columns.length + 1);
  t.push();
  t.string(4, 'schema');
  t.i32(5, table.columns.length);
  t.end();
  for (const column of table.columns) {
    const type = PHYSICAL[column.type];
    t.push();
    t.i32(1, type);
    t.i32(3, OPTIONAL);
    t.string(4, column.name);
    if (type === TYPE_BYTE_ARRAY) {
      t.i32(6, CONVERTED_UTF8);
      t.beginStruct(10); // LogicalType union: STRING
      t.beginStruct(1);
      t.end();
      t.end();
    }
    t.end();
  }
  t.i64(3, table.rowCount);
  t.list(4, CT_STRUCT, groups.length);
  for (const group of groups) {
    t.push();
    t.list(1, CT_STRUCT, group.chunks.length);
    let total = 0;
    for (const chunk of group.chunks) {
      total += chunk.uncompressed;
      t.push();
      t.i64(2, chunk.start); // file_offset
      t.beginStruct(3);
      t.i32(1, chunk.type);
      t.list(2, CT_I32, chunk.dictionary ? 3 : 2);
      out.varint(zigzag(ENCODING_PLAIN));
      out.varint(zigzag(ENCODING_RLE));
      if (chunk.dictionary) out.varint(zigzag(ENCODING_RLE_DICTIONARY));
      t.list(3, CT_BINARY, 1);
      t.binary(chunk.name);
      t.i32(4, codec);
      t.i64(5, chunk.values);
      t.i64(6, chunk.uncompressed);
      t.i64(7, chunk.compressed);
      t.i64(9, chunk.dataOffset);
      if (chunk.dictionary) t.i64(11, chunk.dictionaryOffset);
      t.end();
      t.end();
    }
    t.i64(2, total);
    t.i64(3, group.rows);
    t.i64(5, group.chunks[0]?.start ?? 0); // file_offset: the row group's first page
    t.i64(
      6,
      group.chunks.reduce((sum, chunk) => sum + chunk.compressed, 0),
    );
    t.end();
  }
  if (kvMetadata.length > 0) {
    t.list(5, CT_STRUCT, kvMetadata.length);
    for (const { key, value } of kvMetadata) {
      t.push();
      t.string(1, key);
      t.string(2, value);
      t.end();
    }
  }
  t.string(6, CREATED_BY);
  t.stop();
  return out.copy(0);
}
