import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HttpSource } from '@keel/contracts';
import { SourceReadError } from './pull-failures';

/** A Retry-After longer than this fails the pull instead of holding it: the next pull tries again. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Characters of an error answer's body quoted in the pull's error. */
const QUOTED_BODY_CHARS = 200;
/** Bytes of an error answer's body read at most (what is quoted comes from its start). */
const ERROR_BODY_BYTES = 4_096;

/** The default of INGESTION_HTTP_MAX_PAGE_BYTES (config.ts). */
export const DEFAULT_MAX_PAGE_BYTES = 32 * 1024 * 1024;

/**
 * What a pull's HTTP requests need besides the source: fetch and the clock (tests fake them), and the largest page
 * read (INGESTION_HTTP_MAX_PAGE_BYTES).
 */
export interface HttpReaderDeps {
  fetch: typeof fetch;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
  now: () => number;
  maxPageBytes: number;
}

export const realHttpDeps: HttpReaderDeps = {
  fetch: (...args) => fetch(...args),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
  random: Math.random,
  now: Date.now,
  maxPageBytes: DEFAULT_MAX_PAGE_BYTES,
};

/**
 * A body's first `limit` bytes, and whether that is all of it; the rest is never read (the stream is cancelled). A
 * page is held whole before it is parsed, so an API that ignores the limit or an export endpoint answering a
 * gigabyte must fail the pull here, not take ingestion's memory (and its Kafka consumers and uploads) with it. The
 * bytes are counted as decoded (after gzip), so a small compressed answer cannot blow up either.
 */
async function readUpTo(response: Response, limit: number): Promise<{ bytes: Buffer; whole: boolean }> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  if (!encoded && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return { bytes: Buffer.alloc(0), whole: false };
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      const room = limit - total;
      chunks.push(chunk.byteLength > room ? chunk.subarray(0, room) : chunk);
      total += Math.min(chunk.byteLength, room);
      // Leaving the loop early cancels the stream, so the connection is not read to its end.
      if (chunk.byteLength > room) return { bytes: Buffer.concat(chunks, total), whole: false };
    }
  }
  return { bytes: Buffer.concat(chunks, total), whole: true };
}

/** UTF-8 text as fetch's text() decodes it: a BOM dropped, bad bytes replaced. */
const utf8 = new TextDecoder();

/** Counts of a pull's requests, kept in its run. */
export interface RequestCounts {
  requests: number;
  retries: number;
}

/** The value at a dotted path of a JSON value (`data.items`); the value itself for the empty path. */
export function atPath(value: unknown, path: string): unknown {
  if (path === '') return value;
  let at: unknown = value;
  for (const part of path.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** Milliseconds a Retry-After header asks for (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with full jitter (AWS's): a random delay up to base·2^attempt, capped. */
export function backoffMs(attempt: number, retry: HttpSource['retry'], random: () => number): number {
  return Math.floor(random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt));
}

/** The URL of the `rel="next"` link of an RFC 8288 Link header, resolved against the page's URL. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(match[2])) {
      return new URL(match[1], base).toString();
    }
  }
  return undefined;
}

/** An answer that no retry can change (a 4xx other than 429, a body that is not JSON): the pull fails. */
export class HttpSourceError extends SourceReadError {}

/** Should this answer be tried again? 429 (rate limited), 408, and every 5xx. */
const retryable = (status: number) => status === 429 || status === 408 || status >= 500;

/** Redirects followed for one request before the pull fails (browsers and curl stop at about 20; APIs need one). */
export const MAX_REDIRECTS = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The origins an HTTP source's auth header may go to: its URL's, and for an `http://` source on the default port
 * the same host's `https://` (an API upgrading its clients, as most do; the header is then no less private).
 */
export function sourceOrigins(origin: string): string[] {
  const declared = new URL(origin);
  return declared.protocol === 'http:' && declared.port === '' ? [origin, `https://${declared.host}`] : [origin];
}

/**
 * GETs a URL, following a redirect only to the source's own origin. fetch's own following would carry the auth
 * header to any host a redirect names (undici strips only `Authorization`, never `X-Api-Key` and the like), and an
 * https source could be sent to plain http: the header must only ever go where the spec's URL points.
 */
async function fetchOnOrigin(
  origin: string,
  url: string,
  init: RequestInit,
  counts: RequestCounts,
  deps: HttpReaderDeps,
): Promise<{ response: Response; url: string }> {
  for (let hop = 0; ; hop++) {
    if (hop > 0) counts.requests++;
    const response = await deps.fetch(url, { ...init, redirect: 'manual' });
    if (!REDIRECTS.has(response.status)) return { response, url };
    // The redirect's own body is never read; cancelling it frees the connection.
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    if (location === null) throw new HttpSourceError(`GET ${redact(url)} answered ${response.status} with no Location`);
    let target: URL;
    try {
      target = new URL(location, url);
    } catch {
      throw new HttpSourceError(`GET ${redact(url)} answered ${response.status} with a Location that is not a URL`);
    }
    // An origin is scheme, host and port: https to http is another origin, so the header never goes out in clear;
    // only an http source's upgrade to https on its own host is followed (never back down: see sourceOrigins).
    const from = new URL(url).protocol;
    if (!sourceOrigins(origin).includes(target.origin) || (from === 'https:' && target.protocol === 'http:')) {
      throw new HttpSourceError(
        `GET ${redact(url)} redirects to another origin (${target.origin}); the auth header goes only to ${origin}`,
      );
    }
    // fetch refuses such a URL with a TypeError quoting it whole, credentials and all, and no retry can change that.
    if (target.username || target.password) {
      throw new HttpSourceError(`GET ${redact(url)} redirects to a URL with a user name or password, which is refused`);
    }
    if (hop + 1 > MAX_REDIRECTS) {
      throw new HttpSourceError(`GET ${redact(url)} redirected more than ${MAX_REDIRECTS} times`);
    }
    url = target.toString();
  }
}

/**
 * GETs a URL as JSON, retrying 429s, 5xx answers, timeouts and network failures up to the source's `maxAttempts`
 * with backoff, waiting at least what a Retry-After header asks. Redirects are followed on the source's origin only;
 * `url` in the answer is where the body came from (what a relative next link resolves against).
 */
export async function getJson(
  source: Pick<HttpSource, 'url' | 'retry' | 'timeoutMs'>,
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  counts: RequestCounts,
  deps: HttpReaderDeps,
): Promise<{ body: unknown; headers: Headers; url: string; digest: string }> {
  const { retry } = source;
  const origin = new URL(source.url).origin;
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted();
    counts.requests++;
    if (attempt > 0) counts.retries++;
    let problem: string;
    let waitAtLeast = 0;
    try {
      const { response, url: answeredUrl } = await fetchOnOrigin(
        origin,
        url,
        {
          headers: { accept: 'application/json', ...headers },
          signal: AbortSignal.any([signal, AbortSignal.timeout(source.timeoutMs)]),
        },
        counts,
        deps,
      );
      if (response.ok) {
        const { bytes, whole } = await readUpTo(response, deps.maxPageBytes);
        if (!whole) {
          throw new HttpSourceError(
            `GET ${redact(answeredUrl)} answered a page of more than ${deps.maxPageBytes} bytes ` +
              `(INGESTION_HTTP_MAX_PAGE_BYTES); nothing was committed`,
          );
        }
        const digest = createHash('sha256').update(bytes).digest('hex');
        const text = utf8.decode(bytes);
        try {
          return { body: JSON.parse(text) as unknown, headers: response.headers, url: answeredUrl, digest };
        } catch {
          throw new HttpSourceError(
            `GET ${redact(answeredUrl)} answered ${response.status} with a body that is not JSON`,
          );
        }
      }
      const start = await readUpTo(response, ERROR_BODY_BYTES).catch(() => ({ bytes: Buffer.alloc(0) }));
      const text = utf8.decode(start.bytes).slice(0, QUOTED_BODY_CHARS);
      problem = `GET ${redact(answeredUrl)} answered ${response.status}${text ? `: ${text}` : ''}`;
      if (!retryable(response.status)) throw new HttpSourceError(problem);
      const asked = retryAfterMs(response.headers.get('retry-after'), deps.now());
      if (asked !== undefined && asked > MAX_RETRY_AFTER_MS) {
        throw new HttpSourceError(`${problem} (Retry-After ${asked} ms is longer than a pull waits)`);
      }
      waitAtLeast = asked ?? 0;
    } catch (error) {
      if (error instanceof HttpSourceError || signal.aborted) throw error;
      // fetch quotes the URL it refuses; a user name and password in it stay out of the run's error.
      const message = (error instanceof Error ? error.message : String(error)).replaceAll(url, redact(url));
      problem = `GET ${redact(url)} failed: ${message}`;
    }
    if (attempt + 1 >= retry.maxAttempts) throw new HttpSourceError(`${problem} (gave up after ${attempt + 1} tries)`);
    await deps.sleep(Math.max(waitAtLeast, backoffMs(attempt, retry, deps.random)), signal);
  }
}

/** A URL as errors show it: without a user name and password, nor its query string (some APIs take a token there). */
export function redact(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}${parsed.search ? '?…' : ''}`;
}

function withParams(url: string, params: Record<string, string>): string {
  const parsed = new URL(url);
  for (const [name, value] of Object.entries(params)) parsed.searchParams.set(name, value);
  return parsed.toString();
}

/** A cursor or URL as an error quotes it: enough to recognize it. */
const quoted = (text: string) => JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);

/**
 * The pages of an HTTP source's rows, in order, following its pagination; `since` is sent as the incremental
 * parameter on every page. Each page's rows are the array at `recordsPath`.
 *
 * Where pagination ends, and what guards it against an API that never ends: offset pagination ends at the first
 * empty page (not the first short one: an API that caps the limit below `pageSize`, as GitHub and Stripe do at 100,
 * would otherwise end the pull after its first page, silently) and fails on a page that repeats the one before
 * byte for byte (an API that ignores the offset); cursor pagination ends only where no next cursor is named (an empty
 * page may still name one: some APIs filter a page after cutting it) and fails on a cursor named before; link
 * pagination fails on a link to a page already read.
 */
export async function* httpPages(
  source: HttpSource,
  since: string | undefined,
  headers: Record<string, string>,
  signal: AbortSignal,
  counts: RequestCounts,
  deps: HttpReaderDeps = realHttpDeps,
): AsyncGenerator<unknown[]> {
  const fixed = {
    ...source.params,
    ...(source.incremental && since !== undefined ? { [source.incremental.param]: since } : {}),
  };
  const { pagination } = source;
  const origin = new URL(source.url).origin;
  let url: string | undefined = withParams(source.url, fixed);
  let offset = 0;
  let previousDigest: string | undefined;
  /** Cursor pagination: the cursors followed so far, by the page that named each; link: the URLs read, by page. */
  const followed = new Map<string, number>();
  if (pagination.kind === 'offset') {
    url = withParams(url, { [pagination.offsetParam]: '0', [pagination.limitParam]: String(pagination.pageSize) });
  }
  for (let page = 1; url !== undefined; page++) {
    const answer = await getJson(source, url, headers, signal, counts, deps);
    const rows = atPath(answer.body, source.recordsPath);
    if (!Array.isArray(rows)) {
      throw new HttpSourceError(
        `page ${page} has no array of rows at ${source.recordsPath === '' ? 'its top level' : `"${source.recordsPath}"`}`,
      );
    }
    yield rows;
    switch (pagination.kind) {
      case 'none':
        url = undefined;
        break;
      case 'offset':
        if (rows.length > 0 && answer.digest === previousDigest) {
          throw new HttpSourceError(
            `page ${page} repeats page ${page - 1} (offset ${offset}): the API seems not to read "${pagination.offsetParam}"`,
          );
        }
        previousDigest = answer.digest;
        offset += rows.length;
        url = rows.length === 0 ? undefined : withParams(url, { [pagination.offsetParam]: String(offset) });
        break;
      case 'cursor': {
        const next = atPath(answer.body, pagination.nextCursorPath);
        if (next === undefined || next === null || next === '') {
          url = undefined;
          break;
        }
        const cursor = typeof next === 'string' ? next : JSON.stringify(next);
        const namedBy = followed.get(cursor);
        if (namedBy !== undefined) {
          throw new HttpSourceError(`page ${page} names cursor ${quoted(cursor)} again (page ${namedBy} named it)`);
        }
        followed.set(cursor, page);
        url = withParams(url, { [pagination.cursorParam]: cursor });
        break;
      }
      case 'link': {
        // Relative to where the page came from (after any redirect on the origin).
        const next = nextLink(answer.headers.get('link'), answer.url);
        // The auth header goes only where the source's URL points.
        if (next !== undefined && !sourceOrigins(origin).includes(new URL(next).origin)) {
          throw new HttpSourceError(`page ${page} links its next page to another origin (${new URL(next).origin})`);
        }
        followed.set(url, page).set(answer.url, page);
        const readAs = next === undefined ? undefined : followed.get(next);
        if (next !== undefined && readAs !== undefined) {
          throw new HttpSourceError(`page ${page} links its next page to page ${readAs} (${quoted(redact(next))})`);
        }
        url = next;
        break;
      }
    }
  }
}
