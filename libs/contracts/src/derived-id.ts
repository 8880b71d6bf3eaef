import { createHash } from 'node:crypto';

/**
 * A deterministic id for an effect or an artifact: `<prefix>-` and 32 hex digits of the sha256 of `parts`
 * (NUL-separated, so `['a-b', 'c']` and `['a', 'b-c']` differ). The same parts always give the same id, so a
 * redelivered event repeats one effect; the parts must name everything that makes the effect unique, the pipeline
 * id first, so that two pipelines fed identical data never share an id.
 */
export function derivedId(prefix: string, parts: readonly (string | number)[]): string {
  return `${prefix}-${createHash('sha256').update(parts.map(String).join('\u0000')).digest('hex').slice(0, 32)}`;
}
