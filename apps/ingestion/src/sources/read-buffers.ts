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
 * needs. With one read buffer a connection and a few chunk buffers a reader, reused, it allocates a few MB a pull.
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
 * Lends a stream's reads to its 'data' listener (`lend`), or copies them again; nothing to do for a stream that
 * does not lend (its reads are its listener's to keep).
 */
export function lendReads(stream: Duplex, lend: boolean): void {
  const lending = lendings.get(stream);
  if (lending) lending.lending = lend;
}

/**
 * The socket node-postgres connects with (its `stream` option): TCP reads into one buffer of its own, delivered
 * through a {@link ReadLending}. A TLS connection gets a plain socket (node-postgres wraps it; the TLS layer reads it),
 * so its reads are not lent: TLS allocates a buffer for every decrypted read, and only the chunk buffers are saved
 * (the figures in the comment above, and the bench's, are for plaintext connections).
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

/** The first chunk buffer of a reader: its first chunk grows from here (and sizes the ones after it). */
const FIRST_CHUNK_BYTES = 256 * 1024;
/** The smallest chunk buffer made once chunks have sized them (chunks of a few short rows need no more). */
const MIN_CHUNK_BYTES = READ_BUFFER_BYTES;
/**
 * Free chunk buffers kept. A pull holds up to about five chunks at once (two in workers, one yielded and waiting for a
 * worker, one in the copy's queue, one being filled), so four free ones cover a pipeline that drains and refills.
 */
const KEPT_CHUNK_BUFFERS = 4;
/** Recent chunks a new buffer is sized from. */
const SIZING_CHUNKS = 4;
/** How much larger than a typical chunk a new buffer is made, so chunks of a steady width fit it. */
const HEADROOM = 1.25;
/** Free buffers up to this size are kept whatever the chunks' size (chunks of widely varied widths reuse them). */
const KEPT_ANY_BYTES = 4 * 1024 * 1024;

/**
 * Chunk buffers of a reader, reused from chunk to chunk: shared memory, so a chunk reaches its worker thread without
 * a copy and its buffer is still here to fill again once the worker is done with it (a transferred buffer would come
 * back as a new one, counted again).
 *
 * Sizes follow a typical chunk, the second largest of the last four: one outlier (a chunk carrying a 200 MB value)
 * neither sizes the buffers after it nor stays pooled (its buffer goes to GC once released), and chunks that grow or
 * shrink for good are followed within a few chunks. The pool keeps at most four free buffers, none larger than twice
 * what a new one is made at (or 4 MB): a full pool gives up its smallest for a larger one, so buffers left too small
 * by wider chunks make way for ones that fit (a chunk larger than its buffer grows it, see CopyOut).
 */
export class ChunkBuffers {
  private free: SharedArrayBuffer[] = [];
  /** Buffers handed out and not released yet: a release of anything else (a second one) is ignored. */
  private readonly lent = new WeakSet<SharedArrayBuffer>();
  private readonly recent: number[] = [];

  /** A buffer of at least `bytes` bytes and of a typical chunk's, free or new. */
  take(bytes: number): Buffer {
    const typical = this.typical();
    const wanted = Math.max(bytes, typical);
    // The smallest that fits, the last released among equals (its memory the most recently touched).
    let best = -1;
    for (let at = this.free.length - 1; at >= 0; at--) {
      const size = this.free[at].byteLength;
      if (size >= wanted && (best < 0 || size < this.free[best].byteLength)) best = at;
    }
    const buffer = best >= 0 ? this.free.splice(best, 1)[0] : new SharedArrayBuffer(Math.max(wanted, madeFor(typical)));
    this.lent.add(buffer);
    return Buffer.from(buffer);
  }

  /** A chunk of `bytes` bytes was made: later buffers are sized from it and the ones before it. */
  noteChunk(bytes: number): void {
    this.recent.push(bytes);
    if (this.recent.length > SIZING_CHUNKS) this.recent.shift();
    const typical = this.typical();
    this.free = this.free.filter((buffer) => this.keeps(buffer, typical));
  }

  /**
   * The buffer under `chunk` is free again: nothing reads or writes it any more. Only the first release of a buffer
   * taken counts (a second one could hand it to two live chunks); one too large for the chunks now is left to GC.
   */
  release(chunk: Uint8Array): void {
    const { buffer } = chunk;
    if (!(buffer instanceof SharedArrayBuffer) || !this.lent.has(buffer)) return;
    this.lent.delete(buffer);
    if (!this.keeps(buffer, this.typical())) return;
    if (this.free.length < KEPT_CHUNK_BUFFERS) {
      this.free.push(buffer);
      return;
    }
    // A full pool keeps its larger buffers: one that fits a typical chunk serves any other as well.
    let smallest = 0;
    for (let at = 1; at < this.free.length; at++) {
      if (this.free[at].byteLength < this.free[smallest].byteLength) smallest = at;
    }
    if (this.free[smallest].byteLength < buffer.byteLength) this.free[smallest] = buffer;
  }

  /** The second largest of the recent chunks (the only one while there is one), 0 before any. */
  private typical(): number {
    if (this.recent.length === 0) return 0;
    const sorted = [...this.recent].sort((a, b) => b - a);
    return sorted[Math.min(1, sorted.length - 1)];
  }

  /** Whether a free buffer is small enough to keep for chunks of the `typical` size. */
  private keeps(buffer: SharedArrayBuffer, typical: number): boolean {
    return buffer.byteLength <= Math.max(2 * madeFor(typical), KEPT_ANY_BYTES);
  }
}

/** The size a new buffer is made at for chunks of the `typical` size (0: none yet). */
function madeFor(typical: number): number {
  return typical === 0 ? FIRST_CHUNK_BYTES : Math.max(MIN_CHUNK_BYTES, Math.ceil(typical * HEADROOM));
}
