/**
 * Bounds on untrusted documents, checked before (JSON text) or right after (YAML, parsed values) parsing, so a deeply
 * nested document cannot exhaust the stack of a recursive validator, logger or serializer further on. Each check is
 * linear in the input and allocates nothing per level.
 */

/** Nesting depth allowed by default (`JSON_MAX_DEPTH`): specs, events and infer requests need fewer than 10. */
export const DEFAULT_MAX_DEPTH = 32;

/** A document nests deeper than its limit allows; `limit` names the setting, so the caller knows what to change. */
export class DocumentTooDeepError extends Error {
  readonly retryable = false;
  readonly code = 'document-too-deep';
  constructor(
    readonly maxDepth: number,
    readonly limit = 'JSON_MAX_DEPTH',
  ) {
    super(`the document nests deeper than ${maxDepth} levels (${limit})`);
    this.name = 'DocumentTooDeepError';
  }
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Throws DocumentTooDeepError when JSON text (a string or its UTF-8 bytes) opens more than `maxDepth` arrays and
 * objects inside each other. Only nesting is looked at (brackets inside strings do not count); syntax is left to
 * JSON.parse. One pass over the characters, no allocation.
 */
export function checkJsonDepth(text: string | Uint8Array, maxDepth = DEFAULT_MAX_DEPTH, limit?: string): void {
  // One loop per kind of input rather than one that asks per character which kind it reads: the scan runs over every
  // package and body, and a loop that sees one kind only is several times faster.
  const within = typeof text === 'string' ? textDepthWithin(text, maxDepth) : bytesDepthWithin(text, maxDepth);
  if (!within) throw new DocumentTooDeepError(maxDepth, limit);
}

function bytesDepthWithin(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      // Skip the string: brackets inside it do not count.
      for (i++; i < n; i++) {
        const d = bytes[i];
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return true;
}

function textDepthWithin(text: string, maxDepth: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return true;
}

/**
 * Throws DocumentTooDeepError when YAML text nests block collections deeper than `maxDepth`: by indentation (each
 * line indented past the open levels opens one more) and by sequence entries on one line (`- - - x`). Flow
 * collections (`[`, `{`) are bounded by {@link checkJsonDepth}. Run before the parser, whose recursion over block
 * nesting is what a hostile document would exhaust; one pass over the text.
 */
export function checkYamlBlockDepth(text: string, maxDepth = DEFAULT_MAX_DEPTH, limit?: string): void {
  const open: number[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let indent = start;
    while (indent < end && text.charCodeAt(indent) === 0x20) indent++;
    const first = text.charCodeAt(indent);
    if (indent < end && first !== 0x23 /* # */ && first !== 0x0d) {
      const column = indent - start;
      while (open.length > 0 && open[open.length - 1] >= column) open.pop();
      open.push(column);
      // `- - x`: each dash followed by a space opens a sequence inside the previous one, at the next column.
      let at = indent;
      while (text.charCodeAt(at) === 0x2d /* - */ && text.charCodeAt(at + 1) === 0x20) {
        at += 2;
        while (text.charCodeAt(at) === 0x20) at++;
        if (text.charCodeAt(at) === 0x2d && text.charCodeAt(at + 1) === 0x20) open.push(at - start);
      }
      if (open.length > maxDepth) throw new DocumentTooDeepError(maxDepth, limit);
    }
    start = end + 1;
  }
}

/**
 * Throws DocumentTooDeepError when a parsed value (from YAML, or built by code) nests arrays and objects deeper than
 * `maxDepth`. Iterative, so the check itself cannot overflow the stack; stops at the first level past the limit.
 * Shared subtrees (YAML aliases) are visited per reference, bounded by the parser's alias limit.
 */
export function checkValueDepth(value: unknown, maxDepth = DEFAULT_MAX_DEPTH, limit?: string): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > maxDepth) throw new DocumentTooDeepError(maxDepth, limit);
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
}

/** A document holds more values than its limit allows; `limit` names the setting. */
export class DocumentTooLargeError extends Error {
  readonly retryable = false;
  readonly code = 'document-too-large';
  constructor(
    readonly maxValues: number,
    readonly limit: string,
  ) {
    super(`the document holds more than ${maxValues.toLocaleString('en-US')} values (${limit})`);
    this.name = 'DocumentTooLargeError';
  }
}

/**
 * Throws DocumentTooLargeError when a parsed value holds more than `maxValues` values (objects, arrays and scalars,
 * each counted once per reference). Run before a schema validator whose cost grows with the document, so a document
 * that is small in bytes but holds many small values is refused in one cheap pass; stops at the first value past the
 * limit.
 */
export function checkValueCount(value: unknown, maxValues: number, limit: string): void {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const current = stack.pop();
    if (++count > maxValues) throw new DocumentTooLargeError(maxValues, limit);
    if (typeof current !== 'object' || current === null) continue;
    const children = Array.isArray(current) ? current : Object.values(current as Record<string, unknown>);
    if (count + stack.length + children.length > maxValues) throw new DocumentTooLargeError(maxValues, limit);
    for (const child of children) stack.push(child);
  }
}
