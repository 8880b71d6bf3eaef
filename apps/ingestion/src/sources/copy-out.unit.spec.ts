import { Duplex } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { copyDataText, CopyOut, type FramedChunk, framedCopyData } from './copy-out';
import { ChunkBuffers, lendsReads } from './read-buffers';

/** A backend message: its code, then its length and body. */
function message(code: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeUInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}

const copyOutResponse = (columns: number) => {
  const body = Buffer.alloc(3 + 2 * columns);
  body.writeUInt16BE(columns, 1);
  return message('H', body);
};
const readyForQuery = (status: 'I' | 'T' | 'E') => message('Z', status);
const commandComplete = (tag: string) => message('C', `${tag}\0`);
const notice = (text: string) => message('N', `SNOTICE\0M${text}\0\0`);
const parameterStatus = (name: string, value: string) => message('S', `${name}\0${value}\0`);
const errorResponse = (text: string) => message('E', `SERROR\0C57014\0M${text}\0\0`);

/**
 * A PostgreSQL backend on the other side of a real node-postgres Client: it answers the start-up, and each simple
 * query the client sends with the next scripted response, written in the pieces the test asks for (one socket read
 * each, a macrotask apart).
 */
class FakeBackend extends Duplex {
  readonly queries: string[] = [];
  private readonly responses: { bytes: Buffer; cuts: number[] }[] = [];
  sent?: Promise<void>;
  /** Reads delivered so far. */
  reads = 0;
  /** Scripted responses read as a socket with one read buffer reads them (see readBufferSocket), when set. */
  private readonly lending?: { reads: Buffer; delivered: (read: Buffer) => void };

  constructor(options: { lend?: boolean } = {}) {
    super();
    if (options.lend) {
      const lending = lendsReads(this);
      this.lending = { reads: Buffer.alloc(64 * 1024), delivered: (read) => lending.delivered(read) };
    }
  }

  respond(bytes: Buffer, cuts: number[] = []): void {
    this.responses.push({ bytes, cuts });
  }

  connect(): void {
    setImmediate(() => this.emit('connect'));
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  override _read(): void {}
  override _write(data: Buffer, _encoding: BufferEncoding, done: () => void): void {
    // The start-up message has no code: its first int32 is its length.
    if (data[0] === 0x58) {
      // Terminate: the backend closes the connection.
      this.destroy();
    } else if (data[0] === 0) {
      this.push(Buffer.concat([message('R', Buffer.alloc(4)), readyForQuery('I')]));
    } else if (data[0] === 0x51) {
      this.queries.push(data.toString('utf8', 5, data.length - 1));
      const response = this.responses.shift();
      if (!response) throw new Error(`no response scripted for ${this.queries.at(-1)}`);
      this.sent = this.send(response.bytes, response.cuts);
    }
    done();
  }
  private async send(bytes: Buffer, cuts: number[]): Promise<void> {
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      await tick();
      // A socket with its own read buffer is not read while paused (Node stops reading it).
      while (this.lending && this.isPaused()) await tick();
      if (cut > from) this.reads++;
      if (cut > from && this.lending) {
        // One buffer for every read, overwritten once the read is delivered.
        const { reads } = this.lending;
        bytes.copy(reads, 0, from, cut);
        this.lending.delivered(reads.subarray(0, cut - from));
        reads.fill(0xee);
      } else if (cut > from) {
        // Each read its own buffer, as a socket's are (node-postgres's parser writes into the ones it keeps).
        this.push(Buffer.from(bytes.subarray(from, cut)));
      }
      from = cut;
    }
  }
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.end().catch(() => undefined)));
});

async function connected(options: { lend?: boolean } = {}): Promise<{ client: Client; backend: FakeBackend }> {
  const backend = new FakeBackend(options);
  const client = new Client({ stream: () => backend as never, user: 'keel', database: 'keel' });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return { client, backend };
}

async function drain(copy: CopyOut): Promise<FramedChunk[]> {
  const chunks: FramedChunk[] = [];
  for (let chunk = await copy.next(); chunk; chunk = await copy.next()) chunks.push(chunk);
  return chunks;
}

const lineOf = (chunk: FramedChunk) =>
  copyDataText(Buffer.from(chunk.bytes))
    .text.split('\n')
    .slice(0, -1)
    .map((line) => line.slice(5));

const lines = ['1\tred\t2.5', '2\tgreen\t\\N', '3\tbl\\tue\t-1', '4\tämber\t0.125', '5\t\t7'];

describe('CopyOut', () => {
  const rowsThenDone = Buffer.concat([
    copyOutResponse(3),
    framedCopyData(lines.slice(0, 2)),
    notice('a notice between rows'),
    framedCopyData(lines.slice(2, 4)),
    parameterStatus('application_name', 'x'),
    framedCopyData(lines.slice(4)),
    message('c'),
    commandComplete('COPY 5'),
    readyForQuery('T'),
  ]);

  it.each([
    ['its own buffer', false],
    ['one buffer lent to the copy and overwritten by the next read', true],
  ])(
    'reads rows in chunks whatever the socket reads split, each read in %s, and hands the connection back after the copy',
    async (_, lend) => {
      // given every way of cutting the copy's bytes in two, and the bytes one by one
      const cutsList = [...Array.from({ length: rowsThenDone.length - 1 }, (_, i) => [i + 1])];
      cutsList.push(Array.from({ length: rowsThenDone.length - 1 }, (_, i) => i + 1));
      for (const cuts of cutsList) {
        const { client, backend } = await connected({ lend });
        const notices: string[] = [];
        client.on('notice', (msg) => notices.push(msg.message ?? ''));
        backend.respond(rowsThenDone, cuts);
        backend.respond(Buffer.concat([commandComplete('ROLLBACK'), readyForQuery('I')]));
        // when the copy is read two rows a chunk
        const copy = client.query(new CopyOut('COPY t TO STDOUT', 2));
        const chunks = await drain(copy);
        // then the chunks hold the rows in order, two at a time, each knowing where its last row starts
        expect(
          chunks.map((chunk) => chunk.rows),
          `cut at ${cuts.join(',')}`,
        ).toEqual([2, 2, 1]);
        expect(chunks.flatMap(lineOf)).toEqual(lines);
        for (const chunk of chunks) {
          const last = lineOf(chunk).at(-1)!;
          expect(chunk.bytes.toString('utf8', chunk.lastRow + 5, chunk.bytes.length - 1)).toBe(last);
        }
        // and the notice reached node-postgres, which reads the connection again afterwards
        expect(notices).toEqual(['a notice between rows']);
        await client.query('ROLLBACK');
        expect(backend.queries).toEqual(['COPY t TO STDOUT', 'ROLLBACK']);
        await client.end();
      }
    },
    60_000,
  );

  it('writes the chunks of a copy into shared buffers, reused once released', async () => {
    const { client, backend } = await connected({ lend: true });
    const buffers = new ChunkBuffers();
    backend.respond(rowsThenDone, [7, 40, 41, 90]);
    const copy = client.query(new CopyOut('COPY t TO STDOUT', 1, buffers));
    const read: string[] = [];
    const used = new Set<ArrayBufferLike>();
    for (let chunk = await copy.next(); chunk; chunk = await copy.next()) {
      read.push(...lineOf(chunk));
      used.add(chunk.bytes.buffer);
      buffers.release(chunk.bytes);
    }
    // every chunk in shared memory (a worker reads it where it is), fewer buffers than chunks
    expect(read).toEqual(lines);
    expect([...used].every((buffer) => buffer instanceof SharedArrayBuffer)).toBe(true);
    expect(used.size).toBeLessThan(lines.length);
  });

  it('keeps a chunk held unreleased intact while later chunks, rows larger than a read and a chunk buffer, are written', async () => {
    const { client, backend } = await connected({ lend: true });
    const buffers = new ChunkBuffers();
    // rows of varied width, some wider than a socket read (64 KB) and than the first chunk buffer (256 KB)
    const widths = [10, 300_000, 50, 70_000, 5, 20_000, 400_000, 10, 10, 10, 90_000, 1, 1, 1, 1, 1];
    const wide = widths.map((width, i) => `${i}\t${'é'.repeat(width >> 1)}${'x'.repeat(width & 1)}`);
    const copyBytes = Buffer.concat([
      copyOutResponse(2),
      framedCopyData(wide),
      message('c'),
      commandComplete(`COPY ${wide.length}`),
      readyForQuery('T'),
    ]);
    // reads of odd sizes up to the lent buffer's 64 KB
    const cuts: number[] = [];
    for (let at = 7; at < copyBytes.length; at += 65_536 - (cuts.length % 7) * 3_001) cuts.push(at);
    backend.respond(copyBytes, cuts);
    const copy = client.query(new CopyOut('COPY t TO STDOUT', 2, buffers));
    // the first chunk is held (a worker still decoding it) while all the others are read and released
    const held = (await copy.next())!;
    const heldLines = lineOf(held);
    const read: string[] = [...heldLines];
    for (let chunk = await copy.next(); chunk; chunk = await copy.next()) {
      expect(chunk.bytes.buffer).not.toBe(held.bytes.buffer);
      const chunkLines = lineOf(chunk);
      expect(chunk.bytes.toString('utf8', chunk.lastRow + 5, chunk.bytes.length - 1)).toBe(chunkLines.at(-1));
      read.push(...chunkLines);
      buffers.release(chunk.bytes);
    }
    expect(read).toEqual(wide);
    expect(lineOf(held)).toEqual(heldLines);
    expect(heldLines).toEqual(wide.slice(0, 2));
  });

  it('reads everything as one chunk when asked, and no chunk when there are no rows', async () => {
    const { client, backend } = await connected();
    backend.respond(rowsThenDone, [7, 30]);
    expect((await drain(client.query(new CopyOut('COPY t TO STDOUT', Infinity)))).map((c) => c.rows)).toEqual([5]);
    backend.respond(Buffer.concat([copyOutResponse(3), message('c'), commandComplete('COPY 0'), readyForQuery('T')]));
    expect(await drain(client.query(new CopyOut('COPY t TO STDOUT', 2)))).toEqual([]);
  });

  it('fails on an ErrorResponse mid-copy, wherever the socket reads split it, and the connection stays usable', async () => {
    const failing = Buffer.concat([
      copyOutResponse(3),
      framedCopyData(lines.slice(0, 3)),
      errorResponse('canceling statement due to user request'),
      readyForQuery('E'),
    ]);
    for (let cut = 1; cut < failing.length; cut++) {
      const { client, backend } = await connected();
      backend.respond(failing, [cut]);
      backend.respond(Buffer.concat([commandComplete('ROLLBACK'), readyForQuery('I')]));
      const copy = client.query(new CopyOut('COPY t TO STDOUT', 2));
      // the first chunk (two rows) comes before the error; the third row's chunk never does
      const first = await copy.next();
      expect(first?.rows).toBe(2);
      await expect(copy.next()).rejects.toThrow('canceling statement due to user request');
      await client.query('ROLLBACK');
      await client.end();
    }
  }, 60_000);

  it.each([
    ['its own buffer', false],
    ['one buffer lent to the copy', true],
  ])('stops reading the socket while a whole chunk waits for the caller, each read in %s', async (_, lend) => {
    const { client, backend } = await connected({ lend });
    const many = Array.from({ length: 2_000 }, (_, i) => `${i}\tred\t1`);
    backend.respond(
      Buffer.concat([
        copyOutResponse(3),
        framedCopyData(many),
        message('c'),
        commandComplete('COPY 2000'),
        readyForQuery('T'),
      ]),
      [100, 200, 300],
    );
    const copy = client.query(new CopyOut('COPY t TO STDOUT', 10));
    for (let i = 0; i < 20; i++) await tick();
    // the first read completes chunks nobody has taken: the socket is paused, the rest stays unread
    expect(backend.isPaused()).toBe(true);
    // (a socket reading into its own buffers queues what it read; one with a lent buffer reads nothing more)
    if (lend) expect(backend.reads).toBeLessThan(4);
    const chunks = await drain(copy);
    expect(chunks.reduce((sum, chunk) => sum + chunk.rows, 0)).toBe(2_000);
    expect(backend.isPaused()).toBe(false);
  });

  it('drops the connection when abandoned mid-copy', async () => {
    const { client, backend } = await connected();
    backend.respond(Buffer.concat([copyOutResponse(3), framedCopyData(lines)]));
    const copy = client.query(new CopyOut('COPY t TO STDOUT', 2));
    expect((await copy.next())?.rows).toBe(2);
    copy.abandon();
    expect(backend.destroyed).toBe(true);
    await expect(copy.next()).rejects.toThrow('abandoned');
  });

  it('fails on a stream that is not the protocol, without throwing out of the socket', async () => {
    const { client, backend } = await connected();
    backend.respond(Buffer.concat([copyOutResponse(3), message('d')]));
    const copy = client.query(new CopyOut('COPY t TO STDOUT', 2));
    await expect(copy.next()).rejects.toThrow('an empty CopyData message');
    expect(backend.destroyed).toBe(true);
  });
});

describe('copyDataText', () => {
  it('gives the rows as COPY text, each line COPY_DATA_HEADER characters after the previous newline', () => {
    const long = `9\t${'é'.repeat(40_000)}`;
    const { text, rows } = copyDataText(framedCopyData([...lines, long]));
    expect(rows).toBe(6);
    expect(text).toBe([...lines, long].map((line) => `     ${line}\n`).join(''));
  });

  it('refuses bytes that are not whole CopyData rows', () => {
    const framed = framedCopyData(lines);
    expect(() => copyDataText(framed.subarray(0, framed.length - 3))).toThrow('is not one row');
    expect(() => copyDataText(Buffer.concat([framed, message('N', 'x')]))).toThrow('no CopyData message');
  });
});
