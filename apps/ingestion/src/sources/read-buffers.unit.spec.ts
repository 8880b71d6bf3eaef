import { describe, expect, it } from 'vitest';
import { releaseOnce } from './postgres-reader';
import { ChunkBuffers } from './read-buffers';

const KB = 1024;
const MB = 1024 * KB;

/** A chunk of `bytes` written into a buffer taken for its first `first` bytes, as CopyOut does (without growing). */
function chunkOf(buffers: ChunkBuffers, bytes: number, first = 1_000): Buffer {
  const buffer = buffers.take(first);
  buffers.noteChunk(bytes);
  return buffer.subarray(0, bytes);
}

describe('ChunkBuffers', () => {
  it('reuses a few buffers for chunks of a steady width, all shared memory', () => {
    const buffers = new ChunkBuffers();
    const seen = new Set<ArrayBufferLike>();
    // two chunks in flight at a time, each released once the one after it is written
    let held = chunkOf(buffers, 100 * KB);
    for (let i = 0; i < 50; i++) {
      const next = chunkOf(buffers, 100 * KB);
      seen.add(next.buffer);
      buffers.release(held);
      held = next;
    }
    expect(seen.size).toBeLessThanOrEqual(3);
    expect([...seen].every((buffer) => buffer instanceof SharedArrayBuffer)).toBe(true);
  });

  it('keeps reusing buffers after one chunk larger than the ones so far', () => {
    const buffers = new ChunkBuffers();
    // a steady pull: four chunks of 100 KB in flight, then released (the free list fills)
    const first = [0, 1, 2, 3].map(() => chunkOf(buffers, 100 * KB));
    for (const chunk of first) buffers.release(chunk);
    // one chunk of 300 KB (a few wide rows)
    const wide = chunkOf(buffers, 300 * KB, 300 * KB);
    buffers.release(wide);
    // then 20 more chunks of 100 KB, one at a time, each released before the next
    const before = new Set<ArrayBufferLike>([...first, wide].map((chunk) => chunk.buffer));
    const seen = new Set<ArrayBufferLike>();
    for (let i = 0; i < 20; i++) {
      const chunk = chunkOf(buffers, 100 * KB);
      seen.add(chunk.buffer);
      buffers.release(chunk);
    }
    // no new buffer: the ones made before are reused (the last released first)
    expect([...seen].filter((buffer) => !before.has(buffer))).toEqual([]);
    expect(seen.size).toBe(1);
  });

  it('sheds buffers too small for the chunks now and keeps reusing the new ones', () => {
    const buffers = new ChunkBuffers();
    for (const chunk of [0, 1, 2, 3].map(() => chunkOf(buffers, 100 * KB))) buffers.release(chunk);
    // the chunks widen for good: 1 MB each
    const seen = new Set<ArrayBufferLike>();
    for (let i = 0; i < 30; i++) {
      const chunk = chunkOf(buffers, MB, MB);
      seen.add(chunk.buffer);
      expect(chunk.buffer.byteLength).toBeGreaterThanOrEqual(MB);
      buffers.release(chunk);
    }
    // a new buffer only while the typical size catches up, then one reused
    expect(seen.size).toBeLessThanOrEqual(4);
  });

  it('sizes buffers from a typical chunk, not from one outlier, and lets the outlier go', () => {
    const buffers = new ChunkBuffers();
    for (let i = 0; i < 4; i++) buffers.release(chunkOf(buffers, MB, MB));
    // one chunk with a 200 MB value
    const outlier = chunkOf(buffers, 200 * MB, 200 * MB);
    const outlierBuffer = outlier.buffer;
    buffers.release(outlier);
    // the chunks after it sit in buffers of about their own size, and the outlier's buffer is not reused
    for (let i = 0; i < 10; i++) {
      const chunk = chunkOf(buffers, MB);
      expect(chunk.buffer).not.toBe(outlierBuffer);
      expect(chunk.buffer.byteLength).toBeLessThanOrEqual(2 * MB);
      buffers.release(chunk);
    }
  });

  it('follows chunks that shrink for good, dropping the large buffers', () => {
    const buffers = new ChunkBuffers();
    const large = [0, 1, 2, 3].map(() => chunkOf(buffers, 20 * MB, 20 * MB));
    for (const chunk of large) buffers.release(chunk);
    const largeBuffers = new Set(large.map((chunk) => chunk.buffer));
    const sizes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const chunk = chunkOf(buffers, 300 * KB);
      sizes.push(chunk.buffer.byteLength);
      buffers.release(chunk);
    }
    // after a few chunks no 20 MB buffer is handed out (nor kept: it would be handed out as the only free one)
    expect(sizes.slice(-5).every((size) => size < 2 * MB)).toBe(true);
    const later = chunkOf(buffers, 300 * KB);
    expect(largeBuffers.has(later.buffer)).toBe(false);
  });

  it('keeps at most four free buffers', () => {
    const buffers = new ChunkBuffers();
    const chunks = Array.from({ length: 10 }, () => chunkOf(buffers, 100 * KB));
    for (const chunk of chunks) buffers.release(chunk);
    const taken = new Set(Array.from({ length: 10 }, () => buffers.take(1_000).buffer));
    const reused = chunks.filter((chunk) => taken.has(chunk.buffer)).length;
    expect(reused).toBe(4);
  });

  it('ignores a release of a buffer it did not hand out, or of one already free', () => {
    const buffers = new ChunkBuffers();
    const foreign = Buffer.from(new SharedArrayBuffer(MB));
    buffers.release(foreign);
    const chunk = chunkOf(buffers, 1_000);
    expect(chunk.buffer).not.toBe(foreign.buffer);
    buffers.release(chunk);
    buffers.release(chunk);
    const a = buffers.take(1_000);
    const b = buffers.take(1_000);
    expect(a.buffer).not.toBe(b.buffer);
  });
});

describe('a chunk release (releaseOnce)', () => {
  it('a second release of a chunk does not hand its buffer to two live chunks', () => {
    const buffers = new ChunkBuffers();
    const a = chunkOf(buffers, 1_000);
    const releaseA = releaseOnce(buffers, a);
    releaseA();
    const b = buffers.take(1_000); // chunk b now lives in a's buffer
    expect(b.buffer).toBe(a.buffer);
    releaseA(); // a stray second release (a retry, a finally, a future caller)
    const c = buffers.take(1_000);
    expect(c.buffer).not.toBe(b.buffer);
  });
});
