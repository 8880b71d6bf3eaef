import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { serializeError } from './logging';

describe('serializeError', () => {
  it("leaves out the request body body-parser puts on its errors, and cuts long fields, keeping the error's kind", () => {
    const error = Object.assign(new Error(`bad ${'m'.repeat(5_000)}`), {
      body: Buffer.alloc(1024 * 1024, 0x5b),
      status: 400,
      type: 'entity.verify.failed',
    });
    const lines: string[] = [];
    const logger = pino(
      { serializers: { err: serializeError } },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    logger.error({ err: error }, 'request failed');
    const { err } = JSON.parse(lines[0]) as { err: Record<string, unknown> };
    expect(lines[0].length).toBeLessThan(10_000);
    expect(err.body).toBe('[not logged]');
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/^bad m+… \(5004 characters\)$/);
    expect(err.stack).toContain('Error: bad');
  });
});
