import { HttpSource } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { atPath, backoffMs, getJson, type HttpReaderDeps, httpPages, nextLink, retryAfterMs } from './http-reader';

const source = (extra: object = {}) =>
  HttpSource.parse({ kind: 'http', id: 'api', url: 'http://api.test/rows', ...extra });

/** A fake API: answers are taken in order; records the URLs asked and the delays slept. */
function fakeApi(answers: (() => Response)[]) {
  const urls: string[] = [];
  const slept: number[] = [];
  const deps: HttpReaderDeps = {
    fetch: (async (url: string | URL) => {
      urls.push(String(url));
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      return next();
    }) as typeof fetch,
    sleep: async (ms) => {
      slept.push(ms);
    },
    random: () => 1,
    now: () => Date.parse('2026-12-02T12:00:00Z'),
    maxPageBytes: 1_000_000,
  };
  return { deps, urls, slept };
}

const json =
  (body: unknown, headers: Record<string, string> = {}, status = 200) =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

async function pages(src: HttpSource, deps: HttpReaderDeps, since?: string) {
  const counts = { requests: 0, retries: 0 };
  const out: unknown[][] = [];
  for await (const page of httpPages(src, since, {}, new AbortController().signal, counts, deps)) out.push(page);
  return { pages: out, counts };
}

describe('HTTP source reader', () => {
  it('reads Retry-After as seconds or a date, backs off exponentially with a cap, finds rel="next"', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3_000);
    expect(retryAfterMs('Wed, 02 Dec 2026 12:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    const retry = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 3_000 };
    expect([0, 1, 2, 3].map((attempt) => backoffMs(attempt, retry, () => 1))).toEqual([500, 1_000, 2_000, 3_000]);
    const link = '<https://api.test/rows?page=1>; rel="prev", <https://api.test/rows?page=3>; rel="next"';
    expect(nextLink(link, 'https://api.test/rows?page=2')).toBe('https://api.test/rows?page=3');
    expect(nextLink('</rows?page=2>; rel=next', 'https://api.test/rows')).toBe('https://api.test/rows?page=2');
    expect(nextLink('<https://api.test/rows?page=1>; rel="prev"', 'https://api.test/rows')).toBeUndefined();
    expect(atPath({ data: { items: [1] } }, 'data.items')).toEqual([1]);
  });

  it('retries a 429 no sooner than its Retry-After and a 500 with backoff, then gives up naming the answer', async () => {
    const { deps, slept } = fakeApi([
      json({ error: 'slow down' }, { 'retry-after': '2' }, 429),
      json({ error: 'oops' }, {}, 500),
      json([{ id: 1 }]),
    ]);
    const counts = { requests: 0, retries: 0 };
    const src = source({ retry: { baseDelayMs: 100, maxDelayMs: 1_000 } });
    const answer = await getJson(src, src.url, {}, new AbortController().signal, counts, deps);
    expect(answer.body).toEqual([{ id: 1 }]);
    expect(slept).toEqual([2_000, 200]);
    expect(counts).toEqual({ requests: 3, retries: 2 });

    const failing = fakeApi(Array.from({ length: 3 }, () => json({ error: 'down' }, {}, 503)));
    await expect(
      getJson(
        { ...src, retry: { ...src.retry, maxAttempts: 3 } },
        src.url,
        {},
        new AbortController().signal,
        counts,
        failing.deps,
      ),
    ).rejects.toThrow('GET http://api.test/rows answered 503: {"error":"down"} (gave up after 3 tries)');
    const refused = fakeApi([json({ error: 'no' }, {}, 401)]);
    await expect(getJson(src, src.url, {}, new AbortController().signal, counts, refused.deps)).rejects.toThrow(
      'GET http://api.test/rows answered 401',
    );
    expect(refused.urls).toHaveLength(1);
  });

  it('follows offset, cursor and link pagination, sending the updated-since parameter on every page', async () => {
    const offset = fakeApi([json({ data: [1, 2] }), json({ data: [3, 4] }), json({ data: [5] }), json({ data: [] })]);
    const byOffset = source({
      recordsPath: 'data',
      pagination: { kind: 'offset', pageSize: 2 },
      incremental: { param: 'since', field: 'updated_at', key: 'id' },
    });
    expect((await pages(byOffset, offset.deps, '2026-01-01')).pages).toEqual([[1, 2], [3, 4], [5], []]);
    expect(offset.urls).toEqual([
      'http://api.test/rows?since=2026-01-01&offset=0&limit=2',
      'http://api.test/rows?since=2026-01-01&offset=2&limit=2',
      'http://api.test/rows?since=2026-01-01&offset=4&limit=2',
      'http://api.test/rows?since=2026-01-01&offset=5&limit=2',
    ]);

    const cursor = fakeApi([json({ rows: [1], next: 'b' }), json({ rows: [2], next: null })]);
    const byCursor = source({ recordsPath: 'rows', pagination: { kind: 'cursor', nextCursorPath: 'next' } });
    expect((await pages(byCursor, cursor.deps)).pages).toEqual([[1], [2]]);
    expect(cursor.urls[1]).toBe('http://api.test/rows?cursor=b');

    const link = fakeApi([json([1], { link: '</rows?page=2>; rel="next"' }), json([2])]);
    expect((await pages(source({ pagination: { kind: 'link' } }), link.deps)).pages).toEqual([[1], [2]]);
    const elsewhere = fakeApi([json([1], { link: '<http://evil.test/rows>; rel="next"' })]);
    await expect(pages(source({ pagination: { kind: 'link' } }), elsewhere.deps)).rejects.toThrow(
      'page 1 links its next page to another origin (http://evil.test)',
    );
    const notRows = fakeApi([json({ data: 'x' })]);
    await expect(pages(source({ recordsPath: 'data' }), notRows.deps)).rejects.toThrow(
      'page 1 has no array of rows at "data"',
    );
  });

  it('reads on past a page shorter than pageSize (an API capping the limit) to the first empty page', async () => {
    // given pageSize 5 and an API that caps the limit at 3, as GitHub and Stripe cap theirs at 100
    const capped = fakeApi([json([1, 2, 3]), json([4, 5, 6]), json([7]), json([])]);
    const src = source({ pagination: { kind: 'offset', pageSize: 5 } });
    const { pages: read, counts } = await pages(src, capped.deps);
    expect(read.flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(capped.urls.map((url) => new URL(url).searchParams.get('offset'))).toEqual(['0', '3', '6', '7']);
    expect(counts.requests).toBe(4);
    // and fails, instead of asking forever, when the API ignores the offset
    const ignoring = fakeApi([json([1, 2]), json([1, 2])]);
    await expect(pages(src, ignoring.deps)).rejects.toThrow(
      'page 2 repeats page 1 (offset 2): the API seems not to read "offset"',
    );
  });

  it('follows a cursor past an empty page that names one, and fails on a cursor or link named before', async () => {
    const byCursor = source({ recordsPath: 'rows', pagination: { kind: 'cursor', nextCursorPath: 'next' } });
    const gap = fakeApi([
      json({ rows: [1], next: 'p2' }),
      json({ rows: [], next: 'p3' }),
      json({ rows: [99], next: null }),
    ]);
    expect((await pages(byCursor, gap.deps)).pages).toEqual([[1], [], [99]]);
    expect(gap.urls.map((url) => new URL(url).searchParams.get('cursor'))).toEqual([null, 'p2', 'p3']);

    const looping = fakeApi([
      json({ rows: [1], next: 'p2' }),
      json({ rows: [2], next: 'p3' }),
      json({ rows: [], next: 'p2' }),
    ]);
    await expect(pages(byCursor, looping.deps)).rejects.toThrow('page 3 names cursor "p2" again (page 1 named it)');

    const byLink = source({ pagination: { kind: 'link' } });
    const circle = fakeApi([
      json([1], { link: '</rows?page=2>; rel="next"' }),
      json([2], { link: '<http://api.test/rows>; rel="next"' }),
    ]);
    await expect(pages(byLink, circle.deps)).rejects.toThrow(
      'page 2 links its next page to page 1 ("http://api.test/rows")',
    );
  });
});
