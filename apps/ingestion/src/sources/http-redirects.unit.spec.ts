import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { HttpSource } from '@keel/contracts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpReaderDeps, httpPages, MAX_REDIRECTS, realHttpDeps } from './http-reader';

/** A real HTTP server on 127.0.0.1 (its own origin by its port) that logs what it is asked, with which headers. */
async function origin(route: (path: string, base: string) => { status: number; headers?: Record<string, string> }) {
  const asked: { path: string; headers: IncomingHttpHeaders }[] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    asked.push({ path: req.url!, headers: req.headers });
    const { status, headers = {} } = route(req.url!, base);
    res.writeHead(status, headers).end(status === 200 ? JSON.stringify([{ id: 1 }]) : 'moved');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, asked, close: () => new Promise((resolve) => server.close(resolve)) };
}

async function read(url: string, headers: Record<string, string>, deps: HttpReaderDeps = realHttpDeps) {
  const counts = { requests: 0, retries: 0 };
  const pages: unknown[][] = [];
  const source = HttpSource.parse({ kind: 'http', id: 'api', url, retry: { maxAttempts: 1 } });
  for await (const page of httpPages(source, undefined, headers, new AbortController().signal, counts, deps)) {
    pages.push(page);
  }
  return { pages, counts };
}

describe('HTTP source redirects', () => {
  let other: Awaited<ReturnType<typeof origin>>;
  let api: Awaited<ReturnType<typeof origin>>;

  beforeAll(async () => {
    other = await origin(() => ({ status: 200 }));
    api = await origin((path, base) => {
      if (path === '/away') return { status: 302, headers: { location: `${other.base}/steal` } };
      if (path === '/away-later') return { status: 307, headers: { location: `${base}/away` } };
      if (path === '/moved') return { status: 301, headers: { location: '/rows?page=1' } };
      if (path === '/loop') return { status: 302, headers: { location: '/loop' } };
      if (path === '/nowhere') return { status: 302 };
      return { status: 200 };
    });
  });

  afterAll(async () => {
    await Promise.all([other.close(), api.close()]);
  });

  beforeEach(() => {
    other.asked.length = 0;
    api.asked.length = 0;
  });

  it.each(['Authorization', 'X-Api-Key', 'PRIVATE-TOKEN'])(
    'fails a pull redirected to another origin, and %s never reaches it',
    async (header) => {
      for (const path of ['/away', '/away-later']) {
        await expect(read(`${api.base}${path}`, { [header]: 'the-secret' })).rejects.toThrow(
          `redirects to another origin (${other.base}); the auth header goes only to ${api.base}`,
        );
      }
      expect(other.asked).toEqual([]);
      expect(api.asked.map((r) => r.path)).toEqual(['/away', '/away-later', '/away']);
    },
  );

  it('follows a redirect on the source origin, with the header, counting each hop as a request', async () => {
    const { pages, counts } = await read(`${api.base}/moved`, { 'X-Api-Key': 'the-secret' });
    expect(pages).toEqual([[{ id: 1 }]]);
    expect(counts).toEqual({ requests: 2, retries: 0 });
    expect(api.asked.map((r) => [r.path, r.headers['x-api-key']])).toEqual([
      ['/moved', 'the-secret'],
      ['/rows?page=1', 'the-secret'],
    ]);
  });

  it('fails a redirect loop after a bounded number of hops, and a redirect with no Location', async () => {
    await expect(read(`${api.base}/loop`, {})).rejects.toThrow(`redirected more than ${MAX_REDIRECTS} times`);
    expect(api.asked).toHaveLength(MAX_REDIRECTS + 1);
    await expect(read(`${api.base}/nowhere`, {})).rejects.toThrow('answered 302 with no Location');
  });

  it('never follows an https source to http on the same host', async () => {
    const asked: string[] = [];
    const deps: HttpReaderDeps = {
      ...realHttpDeps,
      fetch: (async (url: string | URL, init?: RequestInit) => {
        asked.push(String(url));
        expect(init?.redirect).toBe('manual');
        return new Response(null, { status: 308, headers: { location: 'http://api.test/rows' } });
      }) as typeof fetch,
    };
    await expect(read('https://api.test/rows', { Authorization: 'Bearer x' }, deps)).rejects.toThrow(
      'redirects to another origin (http://api.test); the auth header goes only to https://api.test',
    );
    expect(asked).toEqual(['https://api.test/rows']);
  });

  /** A fake fetch answering each URL by `routes` (a Location, or a page), logging URLs and the auth header. */
  function fakeFetch(routes: Record<string, string | undefined>) {
    const asked: { url: string; auth: string | null }[] = [];
    const deps: HttpReaderDeps = {
      ...realHttpDeps,
      fetch: (async (url: string | URL, init?: RequestInit) => {
        asked.push({ url: String(url), auth: new Headers(init?.headers).get('authorization') });
        const location = routes[String(url)];
        return location === undefined
          ? new Response(JSON.stringify([{ id: 1 }]), { status: 200 })
          : new Response(null, { status: 301, headers: { location } });
      }) as typeof fetch,
    };
    return { asked, deps };
  }

  it('follows an http source upgraded to https on its own host, with the header', async () => {
    const { asked, deps } = fakeFetch({ 'http://api.test/rows': 'https://api.test/rows' });
    expect((await read('http://api.test/rows', { Authorization: 'Bearer x' }, deps)).pages).toEqual([[{ id: 1 }]]);
    expect(asked).toEqual([
      { url: 'http://api.test/rows', auth: 'Bearer x' },
      { url: 'https://api.test/rows', auth: 'Bearer x' },
    ]);
  });

  it.each([
    [
      'back down to http',
      'http://api.test/rows',
      { 'https://api.test/up': 'http://api.test/rows' },
      'http://api.test/up',
    ],
    ['to https on another host', 'http://api.test/rows', { 'http://api.test/rows': 'https://evil.test/rows' }, ''],
    ['to https on another port', 'http://api.test/rows', { 'http://api.test/rows': 'https://api.test:8443/rows' }, ''],
    [
      'from a port of its own',
      'http://api.test:8080/rows',
      { 'http://api.test:8080/rows': 'https://api.test/rows' },
      '',
    ],
  ])('never follows an upgraded source %s', async (_, url, routes, via) => {
    const { asked, deps } = fakeFetch(via ? { [url]: 'https://api.test/up', ...routes } : routes);
    await expect(read(url, { Authorization: 'Bearer x' }, deps)).rejects.toThrow('redirects to another origin');
    expect(asked.every((request) => request.url.startsWith('https://api.test/') || request.url === url)).toBe(true);
  });

  it('refuses a Location with a user name and password, without quoting them', async () => {
    const { deps } = fakeFetch({ 'http://api.test/rows': 'http://user:s3cret@api.test/data?token=t0k' });
    const failure = (await read('http://api.test/rows', {}, deps).catch((error: unknown) => error)) as Error;
    expect(failure.message).toBe(
      'GET http://api.test/rows redirects to a URL with a user name or password, which is refused',
    );
    expect(failure.message).not.toMatch(/s3cret|t0k/);
  });

  it('never quotes the user name and password of a URL fetch refuses', async () => {
    const failure = (await read('http://user:s3cret@127.0.0.1:9/rows', {}).catch((error: unknown) => error)) as Error;
    expect(failure.message).toMatch(/^GET http:\/\/127\.0\.0\.1:9\/rows failed: /);
    expect(failure.message).not.toContain('s3cret');
  });
});
