import fc from 'fast-check';

/** A JSON value or one of its parts. */
type Json = unknown;

/** Every path into a JSON value (arrays by index, objects by key), the root first. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (out.length > 2_000) return out;
  if (Array.isArray(value)) value.forEach((item, i) => paths(item, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) paths(item, [...prefix, key], out);
  }
  return out;
}

export type JsonMutation = 'replace' | 'delete' | 'wrap' | 'duplicate' | 'extra-key' | 'huge-number' | 'long-string';

/** Applies one mutation at the `at`-th path of a deep copy of `base`. */
export function mutateJson(base: Json, at: number, how: JsonMutation, replacement: Json): Json {
  const root = structuredClone(base) as Json;
  const all = paths(root);
  const path = all[at % all.length];
  const swap = (old: Json): Json => {
    switch (how) {
      case 'replace':
        return replacement;
      case 'wrap':
        return [old];
      case 'duplicate':
        return Array.isArray(old) ? [...old, ...old] : old;
      case 'extra-key':
        return typeof old === 'object' && old !== null && !Array.isArray(old)
          ? { ...old, __proto__x: replacement }
          : old;
      case 'huge-number':
        return typeof old === 'number' ? Number(`1e${300 + (at % 20)}`) * (at % 2 ? -1 : 1) : `9${'9'.repeat(500)}`;
      case 'long-string':
        return 'x'.repeat(10_000 + (at % 5) * 1_000);
      default:
        return undefined;
    }
  };
  if (path.length === 0) return how === 'delete' ? null : swap(root);
  let parent = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path[path.length - 1];
  if (how === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = swap(parent[last]);
  }
  return root;
}

/** A structural mutation of `base`: 1 to 3 JSON mutations (replace, delete, wrap, huge numbers, long strings...). */
export function mutatedJson(base: Json): fc.Arbitrary<Json> {
  const one = fc.tuple(
    fc.nat(),
    fc.constantFrom<JsonMutation>('replace', 'delete', 'wrap', 'duplicate', 'extra-key', 'huge-number', 'long-string'),
    fc.jsonValue({ maxDepth: 3 }),
  );
  return fc
    .array(one, { minLength: 1, maxLength: 3 })
    .map((steps) => steps.reduce((value, [at, how, with_]) => mutateJson(value, at, how, with_), base));
}

/** Byte-level damage to a valid encoding: flipped bytes, cuts, insertions. */
export function mutatedBytes(base: Uint8Array): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), byte: fc.constant(0) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 8 }).map((edits) => {
    let bytes = Buffer.from(base);
    for (const { kind, at, byte } of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (kind === 'flip' && bytes.length > 0) bytes[i] = byte;
      else if (kind === 'cut') bytes = bytes.subarray(0, i);
      else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
    }
    return bytes;
  });
}

/** Text-level damage: characters that mean something to CSV, YAML or JSON inserted, deleted or swapped. */
export function mutatedText(base: string, specials: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace'),
    fc.oneof(fc.constantFrom(...specials), fc.string({ maxLength: 4, unit: 'binary' })),
  );
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let text = base;
    for (const [at, kind, piece] of edits) {
      const i = text.length === 0 ? 0 : at % text.length;
      if (kind === 'insert') text = text.slice(0, i) + piece + text.slice(i);
      else if (kind === 'delete') text = text.slice(0, i) + text.slice(i + 1 + (at % 7));
      else text = text.slice(0, i) + piece + text.slice(i + piece.length);
    }
    return text;
  });
}

/** Arrays or objects nested `depth` deep around `inner`, as text. */
export function nested(depth: number, inner = '1', kind: 'array' | 'object' = 'array'): string {
  return kind === 'array'
    ? '['.repeat(depth) + inner + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}

/** Deep nesting at a random depth up to `max`, as text. */
export function deepText(max: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 20, max }), fc.constantFrom<'array' | 'object'>('array', 'object'))
    .map(([depth, kind]) => nested(depth, '1', kind));
}
