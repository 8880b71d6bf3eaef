import { type Transferable } from 'node:worker_threads';

/**
 * The ArrayBuffers behind `views` that may be moved to another thread: only those a view owns whole. Small Buffers
 * share Node's allocation pool with unrelated data, and moving that pool would empty every other Buffer on it, so
 * such views are left out and copied instead.
 */
export function movableBuffers(...views: readonly ArrayBufferView[]): Transferable[] {
  const buffers = new Set<ArrayBuffer>();
  for (const view of views) {
    const { buffer } = view;
    if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength) {
      buffers.add(buffer);
    }
  }
  return [...buffers];
}

/** A Buffer over bytes that crossed a thread boundary (they arrive as a plain Uint8Array), without copying them. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
