import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '@keel/config';
import { HttpSource } from '@keel/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from '../config';
import { DEFAULT_MAX_PAGE_BYTES, httpPages, realHttpDeps } from './http-reader';

const LIMIT = 64 * 1024;
/** A JSON array of rows whose text is exactly `bytes` long. */
const page = (bytes: number) => {
  const row = '{"id":1},';
  const text = `[${row.repeat(Math.floor((bytes - 2) / row.length))}`;
  return `${text.slice(0, -1)}${' '.repeat(bytes - text.length)}]`;
};

describe('HTTP source page size', () => {
  let server: Server;
  let base: string;
  /** Whether the server got to write each answer to its end (a reader that stops early leaves it unfinished). */
  const finished = new Map<string, boolean>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.on('close', () => finished.set(req.url!, res.writableFinished));
      const json = { 'content-type': 'application/json' };
      if (req.url === '/exact') return res.writeHead(200, json).end(page(LIMIT));
      if (req.url === '/declared') return res.writeHead(200, json).end(page(LIMIT + 1));
      if (req.url === '/bom') return res.writeHead(200, json).end(`\uFEFF${page(100)}`);
      if (req.url === '/gzip') {
        return res.writeHead(200, { ...json, 'content-encoding': 'gzip' }).end(gzipSync(page(20 * LIMIT)));
      }
      if (req.url === '/error') return res.writeHead(404, json).end(`{"error":"${'x'.repeat(10 * LIMIT)}"}`);
      // No Content-Length: chunk after chunk, 16 MiB in all unless the reader stops.
      res.writeHead(200, json);
      let sent = 0;
      const more = () => {
        while (sent < 16 * 1024 * 1024 && !res.destroyed) {
          sent += 16 * 1024;
          if (!res.write(`[${' '.repeat(16 * 1024 - 1)}`)) return void res.once('drain', more);
        }
        res.end(']');
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function read(path: string) {
    const source = HttpSource.parse({ kind: 'http', id: 'api', url: `${base}${path}`, retry: { maxAttempts: 1 } });
    const deps = { ...realHttpDeps, maxPageBytes: LIMIT };
    const rows: unknown[] = [];
    const counts = { requests: 0, retries: 0 };
    for await (const got of httpPages(source, undefined, {}, new AbortController().signal, counts, deps)) {
      rows.push(...got);
    }
    return rows;
  }

  const tooBig = `answered a page of more than ${LIMIT} bytes (INGESTION_HTTP_MAX_PAGE_BYTES); nothing was committed`;

  it('reads a page of exactly the limit, and a page starting with a BOM as fetch would', async () => {
    expect((await read('/exact')).length).toBeGreaterThan(7_000);
    expect(await read('/bom')).toHaveLength(10);
  });

  it('fails a page over the limit by its Content-Length, by the bytes counted, or decompressed', async () => {
    await expect(read('/declared')).rejects.toThrow(tooBig);
    await expect(read('/gzip')).rejects.toThrow(tooBig);
    await expect(read('/endless')).rejects.toThrow(tooBig);
    // the endless answer was not read to its end: the reader hung up
    await expect.poll(() => finished.get('/endless')).toBe(false);
  });

  it('quotes the start of an error answer without reading all of it', async () => {
    await expect(read('/error')).rejects.toThrow(/answered 404: \{"error":"x{100}/);
  });

  it('takes the limit from INGESTION_HTTP_MAX_PAGE_BYTES, validated at start-up', () => {
    expect(loadConfig(ingestionEnvSchema, {}).INGESTION_HTTP_MAX_PAGE_BYTES).toBe(DEFAULT_MAX_PAGE_BYTES);
    expect(loadConfig(ingestionEnvSchema, { INGESTION_HTTP_MAX_PAGE_BYTES: '1048576' })).toMatchObject({
      INGESTION_HTTP_MAX_PAGE_BYTES: 1_048_576,
    });
    expect(() => loadConfig(ingestionEnvSchema, { INGESTION_HTTP_MAX_PAGE_BYTES: 'lots' })).toThrow(
      /INGESTION_HTTP_MAX_PAGE_BYTES: /,
    );
  });
});
