import { type MessagePort } from 'node:worker_threads';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { WorkerPool } from '@keel/workers';
import { afterAll, describe, expect, it } from 'vitest';
import { type UploadBodyAck, type UploadBodyMessage, type UploadOutcome } from './file-upload.task';
import { UPLOAD_BYTES_IN_FLIGHT } from './send-window';
import { FileNotIngested, UploadsService } from './uploads.service';
import { uploadTestSpec } from './upload-test-spec';

const spec = uploadTestSpec('flow-unit');
const pipeline = { spec } as StoredPipelineSpec;

const CHUNK = 64 * 1024;

/** A client as fast as can be: `total` bytes of `header` then `row` repeated, in 64 KiB chunks; counts what was read. */
function fastClient(total: number, header: string, row: string) {
  const text = Buffer.from(header + row.repeat(Math.ceil(total / row.length))).subarray(0, total);
  const client = { bytesRead: 0 };
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < text.length; at += CHUNK) {
      const chunk = new Uint8Array(text.subarray(at, at + CHUNK));
      client.bytesRead += chunk.byteLength;
      yield chunk;
    }
  }
  return { client, body: body() };
}

/**
 * A worker that parses one chunk per turn of the event loop (slower than the client) and acknowledges it as the
 * real one does; it records the most bytes that were ever posted to it and not yet parsed.
 */
class SlowWorkerPool {
  mostInFlight = 0;
  parsed = 0;

  run(_task: unknown, input: { body: MessagePort }): Promise<UploadOutcome> {
    const port = input.body;
    const queue: UploadBodyMessage[] = [];
    let received = 0;
    return new Promise((resolve) => {
      port.on('message', (message: UploadBodyMessage) => {
        if ('chunk' in message) received += message.chunk.byteLength;
        this.mostInFlight = Math.max(this.mostInFlight, received - this.parsed);
        queue.push(message);
      });
      const parseOne = () => {
        const message = queue.shift();
        if (message && 'chunk' in message) {
          this.parsed += message.chunk.byteLength;
          port.postMessage({ consumed: message.chunk.byteLength } satisfies UploadBodyAck);
        }
        if (message && !('chunk' in message)) {
          port.close();
          resolve({ kind: 'encoded', parquet: new Uint8Array(8), rowCount: 1, rowsRead: 1 });
          return;
        }
        setTimeout(parseOne, 0);
      };
      setTimeout(parseOne, 0);
    });
  }
}

const service = (workers: unknown) => new UploadsService(undefined as never, undefined as never, workers as WorkerPool);

describe('UploadsService.encode flow control', () => {
  it('keeps at most UPLOAD_BYTES_IN_FLIGHT bytes posted to a worker slower than the client', async () => {
    // given a client sending 40 MiB as fast as it can, and a worker parsing a chunk per turn of the event loop
    const workers = new SlowWorkerPool();
    const { client, body } = fastClient(40 * 1024 * 1024, 'age,city,income\n', '30,Lyon,>50K\n');
    // when the upload is encoded
    await service(workers).encode(pipeline, 'csv', body);
    // then every byte was parsed, yet never more than the window waited in the port (without it: all 40 MiB)
    expect(workers.parsed).toBe(client.bytesRead);
    expect(workers.mostInFlight).toBeLessThanOrEqual(UPLOAD_BYTES_IN_FLIGHT);
    expect(workers.mostInFlight).toBeGreaterThan(UPLOAD_BYTES_IN_FLIGHT / 2);
  }, 60_000);

  describe('with the real worker', () => {
    const pool = new WorkerPool({ threads: 1 });
    afterAll(() => pool.close());

    it('encodes a body larger than the window, the worker giving the credit back', async () => {
      const { client, body } = fastClient(3 * UPLOAD_BYTES_IN_FLIGHT, 'age,city,income\n', '30,Lyon,>50K\n');
      // The last row may be cut: 12 MiB is not a whole number of rows, so end the body on a line.
      const rows = Math.floor((3 * UPLOAD_BYTES_IN_FLIGHT - 16) / 13);
      const encoded = await service(pool).encode(pipeline, 'csv', endOnLine(body));
      expect(encoded.rowCount).toBe(rows);
      expect(client.bytesRead).toBe(3 * UPLOAD_BYTES_IN_FLIGHT);
    }, 120_000);

    it('reads a body to its end, sending none of the rest, once the worker refused the file early', async () => {
      const { client, body } = fastClient(3 * UPLOAD_BYTES_IN_FLIGHT, 'age,city\n', '30,Lyon\n');
      await expect(service(pool).encode(pipeline, 'csv', body)).rejects.toThrow(FileNotIngested);
      expect(client.bytesRead).toBe(3 * UPLOAD_BYTES_IN_FLIGHT);
    }, 120_000);
  });
});

/** `body`, cut after its last newline. */
async function* endOnLine(body: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let held: Uint8Array | undefined;
  for await (const chunk of body) {
    if (held) yield held;
    held = chunk;
  }
  if (held) yield held.subarray(0, held.lastIndexOf(0x0a) + 1);
}
