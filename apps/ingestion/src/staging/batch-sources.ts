/** Where a staged batch came from. */
export interface BatchOrigin {
  topic: string;
  partition: number;
  offset: string;
  source?: string;
}

const MAX_SOURCE_NAMES = 20;

/**
 * Lineage of a dataset version cut from staged batches, compact whatever the number of batches (the event is
 * bounded): one `kafka:<topic>/<partition>@<first>-<last>` entry per partition, then the producers' names.
 */
export function batchSources(origins: readonly BatchOrigin[]): string[] {
  const ranges = new Map<string, { first: bigint; last: bigint }>();
  const names = new Set<string>();
  for (const origin of origins) {
    const key = `${origin.topic}/${origin.partition}`;
    const offset = BigInt(origin.offset);
    const range = ranges.get(key);
    if (!range) ranges.set(key, { first: offset, last: offset });
    else {
      if (offset < range.first) range.first = offset;
      if (offset > range.last) range.last = offset;
    }
    if (origin.source && names.size < MAX_SOURCE_NAMES) names.add(origin.source);
  }
  return [
    ...[...ranges].map(([key, { first, last }]) => `kafka:${key}@${first === last ? first : `${first}-${last}`}`),
    ...[...names].map((name) => `source:${name}`),
  ];
}
