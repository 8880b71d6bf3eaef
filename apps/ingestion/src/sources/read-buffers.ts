import { Socket } from 'node:net';
import { type Duplex } from 'node:stream';

/**
 * Memory for a pull's socket reads and chunks that is allocated once and reused, not once a read or a chunk.
 *
 * Why: V8 starts a full mark-compact of the event loop's heap (about 85 MB in ingestion, 50-100 ms of marking) once
 * the ArrayBuffer bytes allocated since the last one outgrow a tenth of that heap or so (its old-generation limit is
 * the heap plus a tenth plus the young generation, and marking starts when less than the young generation is left,
 * external bytes counted). A pull of 1,000,000 rows reads about 70 MB of COPY text, and a new buffer for every
 * socket read plus another for every chunk gave the event loop 6 to 8 such collections a pull, on the cores the pull
 * needs. With one read buffer a connection and a few chunk buffers a copy, reused, it allocates a few MB a pull.
 */

/** The size of a connection's one read buffer (what Node reads a socket with by default). */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Where a stream's reads go: to its 'data' listeners, lent (the read buffer itself, overwritten by the next read, for
 * a reader that copies what it keeps) or copied (for node-postgres, whose parser keeps the buffers it is given).
 */
export class ReadLending {
  lending = false;

  constructor(private readonly stream: Duplex) {}

  /** One read, in a buffer the next read overwrites. */
  delivered(read: Buffer): void {
    this.stream.emit('data', this.lending ? read : Buffer.from(read));
  }
}

const lendings = new WeakMap<object, ReadLending>();

/** Attaches a lending to a stream that delivers its reads through it. */
export function lendsReads(stream: Duplex): ReadLending {
  const lending = new ReadLending(stream);
  lendings.set(stream, lending);
  return lending;
}

/**
 * Lends a stream's reads to its 'data' listener (`lend`), or copies them again; false when the stream does not
 * lend (its reads are its listener's to keep).
 */
export function lendReads(stream: Duplex, lend: boolean): boolean {
  const lending = lendings.get(stream);
  if (!lending) return false;
  lending.lending = lend;
  return true;
}

/**
 * The socket node-postgres connects with (its `stream` option): TCP reads into one buffer of its own, delivered
 * through a {@link ReadLending}. A TLS connection gets a plain socket (node-postgres wraps it; the TLS layer reads it).
 */
export function readBufferSocket(config?: { ssl?: unknown }): Socket {
  if (config?.ssl) return new Socket();
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const socket: Socket = new Socket({
    onread: {
      buffer,
      callback: (length: number) => {
        lending.delivered(buffer.subarray(0, length));
        return true;
      },
    },
  });
  const lending = lendsReads(socket);
  return socket;
}

/** The smallest chunk buffer made: the first chunk of a copy grows from here (and sizes the ones after it). */
const MIN_CHUNK_BYTES = 256 * 1024;
/** Free chunk buffers kept: about as many chunks as a pull holds at once (read, waiting, encoding, written). */
const KEPT_CHUNK_BUFFERS = 4;

/**
 * Chunk buffers of a reader, reused from chunk to chunk: shared memory, so a chunk reaches its worker thread without
 * a copy and its buffer is still here to fill again once the worker is done with it (a transferred buffer would come
 * back as a new one, counted again). A buffer is made a quarter larger than the largest chunk so far, so chunks of a
 * steady width fit the buffers made after the first.
 */
export class ChunkBuffers {
  private readonly free: SharedArrayBuffer[] = [];
  private largest = 0;

  /** A buffer of at least `bytes` bytes and of the largest chunk's, free or new. */
  take(bytes: number): Buffer {
    const wanted = Math.max(bytes, this.largest);
    const at = this.free.findIndex((buffer) => buffer.byteLength >= wanted);
    if (at >= 0) return Buffer.from(this.free.splice(at, 1)[0]);
    const size = Math.max(wanted, MIN_CHUNK_BYTES, Math.ceil(this.largest * 1.25));
    return Buffer.from(new SharedArrayBuffer(size));
  }

  /** A chunk of `bytes` bytes was made: later buffers are sized from it. */
  noteChunk(bytes: number): void {
    this.largest = Math.max(this.largest, bytes);
  }

  /** The buffer under `chunk` is free again: nothing reads or writes it any more. */
  release(chunk: Uint8Array): void {
    const { buffer } = chunk;
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < this.largest || this.free.includes(buffer))
      return;
    if (this.free.length < KEPT_CHUNK_BUFFERS) this.free.push(buffer);
  }
}
