import { type Connection, type Submittable } from 'pg';
import { ChunkBuffers, lendReads } from './read-buffers';

/**
 * `COPY ... TO STDOUT` read straight off node-postgres's socket, a chunk of rows at a time.
 *
 * Why not pg-copy-streams: it parses each CopyData message (one per row) through a list of buffers, reading its code,
 * its length and taking its body as buffer calls of their own, and the pull then scanned the rows it pushed for their
 * newlines to count them: about 1 µs a row on the event loop, more than the worker's decode of the same row. Here
 * one pass over each socket read walks the message headers only (5 bytes a row) and slices the reads at message
 * boundaries: a chunk is the raw CopyData messages of its rows, copied from each read into a reused chunk buffer
 * (`ChunkBuffers`; the connection's reads are lent to this, see read-buffers.ts), and the worker
 * that decodes it skips the headers (`copyDataText`). In text format each CopyData message is exactly one row (the
 * protocol says so for COPY TO), so rows are counted from the headers with no newline scan.
 *
 * Protocol handling, as pg-copy-streams does it: on submit the connection's parser is taken off the socket and this
 * reads it until a message that ends the copy (CopyDone, ErrorResponse, anything unexpected): from that message on
 * the bytes go back to node-postgres's parser, which reports CommandComplete, ReadyForQuery or the error to this
 * query as to any other, so the connection is usable afterwards. NoticeResponse, ParameterStatus and
 * NotificationResponse interleaved with the rows are passed on to node-postgres whole; CopyOutResponse is skipped.
 * Backpressure: the socket is paused while a whole chunk waits for the caller, so about two chunks are held at most.
 */
export class CopyOut implements Submittable {
  private connection?: Connection;
  private socket?: Connection['stream'];
  private pgData?: (data: Buffer) => void;
  private readonly onData = (data: Buffer) => this.read(data);

  // The chunk being read: whole CopyData messages copied from the socket's reads, their byte total, the rows they hold.
  private target?: Buffer;
  private bytes = 0;
  private rows = 0;
  /** Where, in the chunk, the last row's message starts. */
  private lastRow = 0;

  // The message being read: its code, and its body's bytes still to come (0: at a header).
  private code = 0;
  private bodyLeft = 0;
  /** A header split across socket reads: its bytes so far. */
  private readonly header = Buffer.alloc(5);
  private headerHave = 0;
  /** The bytes of a message passed on to node-postgres whole (a notice), as they arrive. */
  private passOn: Buffer[] = [];

  private readonly ready: FramedChunk[] = [];
  private waiter?: { resolve: (chunk: FramedChunk | null) => void; reject: (error: Error) => void };
  private paused = false;
  /** The copy's end has gone back to node-postgres: the last chunk follows its ReadyForQuery. */
  private detached = false;
  private done = false;
  private failure?: Error;

  /** `chunkRows`: rows a chunk (Infinity: one chunk of everything); `buffers`: where chunks are written. */
  constructor(
    readonly text: string,
    private readonly chunkRows: number,
    private readonly buffers = new ChunkBuffers(),
  ) {}

  submit(connection: Connection): void {
    const socket = connection.stream;
    const listeners = socket.listeners('data') as ((data: Buffer) => void)[];
    if (listeners.length !== 1)
      throw new Error(`expected node-postgres's one socket reader, found ${listeners.length}`);
    this.connection = connection;
    this.socket = socket;
    this.pgData = listeners[0];
    socket.removeListener('data', this.pgData);
    socket.on('data', this.onData);
    // Everything this keeps of a read it copies (into the chunk, or to pass on), so the reads can be lent.
    lendReads(socket, true);
    connection.query(this.text);
  }

  /**
   * The next chunk: its messages, rows and where its last row starts; null after the last. Taking one lets the socket
   * read on.
   */
  next(): Promise<FramedChunk | null> {
    const chunk = this.ready.shift();
    if (chunk) {
      if (this.paused && this.ready.length === 0) {
        this.paused = false;
        this.socket!.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new Error('one chunk at a time'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Stops reading: the caller drops the connection (mid-copy it cannot be used again). */
  abandon(): void {
    if (this.done || this.failure) return;
    this.fail(new Error('the copy was abandoned'));
    if (!this.detached && this.socket) {
      this.socket.removeListener('data', this.onData);
      lendReads(this.socket, false);
    }
    this.socket?.destroy();
  }

  /** node-postgres: the copy's CommandComplete (`COPY n`). */
  handleCommandComplete(): void {}

  /** node-postgres: the copy is over and the connection ready for the next query. */
  handleReadyForQuery(): void {
    if (this.failure || this.done) return;
    if (this.rows > 0) this.emit();
    this.done = true;
    if (this.waiter) this.settle(null);
  }

  /** node-postgres: an ErrorResponse, or the connection's end, during the copy. */
  handleError(error: Error): void {
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.failure || this.done) return;
    this.failure = error;
    this.target = undefined;
    this.ready.length = 0;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  private settle(chunk: FramedChunk | null): void {
    const waiter = this.waiter!;
    this.waiter = undefined;
    waiter.resolve(chunk);
  }

  /** One socket read: its messages' headers walked, its CopyData bytes copied into the chunk's buffer. */
  private read(data: Buffer): void {
    if (this.failure) return;
    const length = data.length;
    // Where the run of CopyData bytes this read adds to the chunk starts.
    let run = 0;
    let at = 0;
    while (at < length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, length - at);
        if (this.code !== COPY_DATA) this.passOn.push(Buffer.from(data.subarray(at, at + take)));
        at += take;
        this.bodyLeft -= take;
        if (this.bodyLeft > 0) break;
        if (this.code === COPY_DATA) {
          if (this.rows === this.chunkRows) {
            this.keep(data, run, at);
            run = at;
            this.emit();
          }
        } else {
          this.passOnWhole();
          run = at;
        }
        continue;
      }
      // A header: the fast path reads it in place, a split one is gathered first.
      let start = at;
      let size: number;
      if (this.headerHave === 0 && at + 5 <= length) {
        this.code = data[at];
        size = data.readUInt32BE(at + 1);
        at += 5;
      } else {
        if (this.headerHave === 0) {
          // The read ends inside this header: what comes before it is whole messages.
          this.keep(data, run, at);
        }
        const take = Math.min(5 - this.headerHave, length - at);
        data.copy(this.header, this.headerHave, at, at + take);
        this.headerHave += take;
        at += take;
        run = at;
        if (this.headerHave < 5) {
          // An ErrorResponse or the copy's end is handed over as soon as its code is known.
          if (!ROW_ALONG.has(this.header[0])) return this.handOver(data, at, this.header.subarray(0, this.headerHave));
          break;
        }
        this.headerHave = 0;
        this.code = this.header[0];
        size = this.header.readUInt32BE(1);
        start = -1;
      }
      if (!ROW_ALONG.has(this.code)) {
        if (start >= 0) {
          this.keep(data, run, start);
          return this.handOver(data, start);
        }
        return this.handOver(data, at, this.header);
      }
      if (size < 4) return this.broken(`a message of length ${size} in a COPY`);
      this.bodyLeft = size - 4;
      if (this.code === COPY_DATA) {
        if (start < 0) {
          // A split header goes into the chunk on its own, ahead of its body.
          this.lastRow = this.bytes;
          this.keep(this.header, 0, 5);
        } else {
          this.lastRow = this.bytes + (start - run);
        }
        this.rows++;
      } else {
        // Not a row: the run of rows ends before it, and it is passed on (or skipped) once whole.
        if (start >= 0) {
          this.keep(data, run, start);
          this.passOn.push(Buffer.from(data.subarray(start, at)));
        } else {
          this.passOn.push(Buffer.from(this.header));
        }
        run = at + this.bodyLeft;
      }
      if (this.bodyLeft === 0) {
        // A message with no body: a row of no bytes cannot be (COPY ends every row with a newline), so a notice.
        if (this.code === COPY_DATA) return this.broken('an empty CopyData message');
        this.passOnWhole();
        run = at;
      }
    }
    if (this.code === COPY_DATA || this.bodyLeft === 0) this.keep(data, run, at);
    // Backpressure: a whole chunk waits for the caller, so the socket stops being read until it is taken.
    if (this.ready.length > 0 && !this.waiter && !this.paused) {
      this.paused = true;
      this.socket!.pause();
    }
  }

  /** A stream this cannot read: the copy fails and the connection is dropped (there is no telling where it stands). */
  private broken(problem: string): void {
    this.fail(new Error(`COPY protocol: ${problem}`));
    this.socket!.removeListener('data', this.onData);
    lendReads(this.socket!, false);
    this.socket!.destroy();
  }

  /** Copies `data[from, to)`, whole CopyData messages or the start of one, into the chunk. */
  private keep(data: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const needed = this.bytes + (to - from);
    if (!this.target || needed > this.target.length) {
      // A chunk larger than the buffers sized from the ones before it (the first of a copy, a wide one) grows its
      // buffer; the one it outgrew is free again.
      const grown = this.buffers.take(this.target ? Math.max(needed, 2 * this.target.length) : needed);
      if (this.target) {
        this.target.copy(grown, 0, 0, this.bytes);
        this.buffers.release(this.target);
      }
      this.target = grown;
    }
    data.copy(this.target, this.bytes, from, to);
    this.bytes = needed;
  }

  /** The chunk read so far, to the caller. */
  private emit(): void {
    const bytes = this.target!.subarray(0, this.bytes);
    this.buffers.noteChunk(this.bytes);
    const chunk: FramedChunk = { bytes, rows: this.rows, lastRow: this.lastRow };
    this.target = undefined;
    this.bytes = 0;
    this.rows = 0;
    if (this.waiter) this.settle(chunk);
    else this.ready.push(chunk);
  }

  /** A message that is not a row, now whole: a notice or a parameter's new value goes to node-postgres. */
  private passOnWhole(): void {
    const message = Buffer.concat(this.passOn);
    this.passOn = [];
    if (this.code !== COPY_OUT_RESPONSE) this.pgData!(message);
  }

  /**
   * The copy's end (CopyDone, an error, anything unexpected): node-postgres reads the socket again, from this
   * message's header (`head`: the part of it already read, then `data` from `from`).
   */
  private handOver(data: Buffer, from: number, head?: Buffer): void {
    this.detached = true;
    this.headerHave = 0;
    const socket = this.socket!;
    socket.removeListener('data', this.onData);
    lendReads(socket, false);
    socket.on('data', this.pgData!);
    // A copy: node-postgres keeps what it is given, and the read may be lent.
    const bytes = Buffer.concat(head ? [head, data.subarray(from)] : [data.subarray(from)]);
    if (bytes.length > 0) this.pgData!(bytes);
    if (this.paused) {
      this.paused = false;
      socket.resume();
    }
  }
}

/**
 * A chunk of a copy: its rows' CopyData messages as they came (see `copyDataText`), in a buffer of the copy's
 * `ChunkBuffers` (released to them by whoever is done with it last).
 */
export interface FramedChunk {
  bytes: Buffer;
  rows: number;
  /** Where the last row's message starts in `bytes`. */
  lastRow: number;
}

/** A CopyData message's code ('d'). */
export const COPY_DATA = 0x64;
const COPY_OUT_RESPONSE = 0x48; // 'H'
/** Messages that may come between a copy's rows: CopyData, CopyOutResponse, NoticeResponse, ParameterStatus, NotificationResponse. */
const ROW_ALONG: ReadonlySet<number> = new Set([COPY_DATA, COPY_OUT_RESPONSE, 0x4e, 0x53, 0x41]);

/** The bytes of a CopyData message's header: its code and its length. */
export const COPY_DATA_HEADER = 5;

/**
 * A chunk's rows as COPY text, on the worker: its CopyData headers are overwritten in place with spaces (they then
 * decode as 5 characters each, whatever their length bytes were) and each row's text starts COPY_DATA_HEADER
 * characters after the previous row's newline. Checks the framing as it goes. `bytes` is shared with the event loop,
 * which reads nothing of a chunk once it is handed over (its watermark is read before) and does not fill its buffer
 * again until it is released, after the worker is done.
 */
export function copyDataText(bytes: Uint8Array): { text: string; rows: number } {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let rows = 0;
  let at = 0;
  while (at < view.length) {
    if (at + COPY_DATA_HEADER > view.length || view[at] !== COPY_DATA) throw new Error(`no CopyData message at ${at}`);
    const end = at + 1 + view.readUInt32BE(at + 1);
    if (end > view.length || end <= at + COPY_DATA_HEADER || view[end - 1] !== 0x0a) {
      throw new Error(`a CopyData message at ${at} is not one row`);
    }
    // Five stores rather than fill(): a native call per row costs more here.
    view[at] = 0x20;
    view[at + 1] = 0x20;
    view[at + 2] = 0x20;
    view[at + 3] = 0x20;
    view[at + 4] = 0x20;
    rows++;
    at = end;
  }
  return { text: view.toString('utf8'), rows };
}

/** COPY text lines as a copy sends them, one CopyData message each (tests, benchmarks). */
export function framedCopyData(lines: readonly string[]): Buffer {
  return Buffer.concat(
    lines.map((line) => {
      const body = Buffer.from(line.endsWith('\n') ? line : `${line}\n`);
      const message = Buffer.alloc(COPY_DATA_HEADER + body.length);
      message[0] = COPY_DATA;
      message.writeUInt32BE(body.length + 4, 1);
      body.copy(message, COPY_DATA_HEADER);
      return message;
    }),
  );
}
