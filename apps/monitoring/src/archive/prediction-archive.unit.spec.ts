import { createHash } from 'node:crypto';
import { ObjectNotFoundError } from '@keel/storage';
import { describe, expect, it } from 'vitest';
import { archiveRecord } from '../test-support/archive-batch';
import { PredictionArchive } from './prediction-archive';

/** The slice of the object store the archive uses, in memory: content-addressed puts, verified gets, listing, removal. */
function memoryObjects() {
  const objects = new Map<string, Buffer>();
  const store = {
    putContentAddressed: async (bucket: string, prefix: string, bytes: Buffer, options: { extension: string }) => {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const key = `${prefix}/${sha256}${options.extension}`;
      objects.set(key, Buffer.from(bytes));
      return { uri: `s3://${bucket}/${key}`, sha256 };
    },
    getVerified: async ({ uri }: { uri: string }) => {
      const key = uri.replace(/^s3:\/\/[^/]+\//, '');
      const bytes = objects.get(key);
      if (!bytes) throw new ObjectNotFoundError(uri);
      return bytes;
    },
    client: {
      listObjectsV2: (_bucket: string, prefix: string) =>
        (async function* () {
          for (const name of [...objects.keys()].sort()) if (name.startsWith(prefix)) yield { name };
        })(),
      removeObjects: async (_bucket: string, keys: string[]) => {
        for (const key of keys) objects.delete(key);
      },
    },
  };
  return { objects, store };
}

const SERVED_AT = Date.parse('2026-12-01T10:00:00Z');

describe('PredictionArchive', () => {
  it('skips and counts an id filter whose file is gone, and finds the ids of the other files', async () => {
    // given two files of one pipeline, written at two checkpoints
    const { objects, store } = memoryObjects();
    const counted: number[] = [];
    const metrics = { archiveOrphanedFilters: { inc: () => counted.push(1) } };
    const archive = new PredictionArchive({ objects: store } as never, metrics as never);
    const at = new Date('2026-12-01T10:00:00Z');
    const [first] = await archive.write([archiveRecord('p', ['a1', 'a2'], SERVED_AT)], at);
    await archive.write([archiveRecord('p', ['b1', 'b2'], SERVED_AT)], at);
    // when the first file is removed and its filter left behind (a retention sweep that stopped halfway)
    objects.delete(first.uri.replace(/^s3:\/\/[^/]+\//, ''));
    // then a lookup of ids of both files answers from the other one, and counts the orphaned filter once
    const found = await archive.find('p', ['a1', 'b2']);
    expect(found.map((prediction) => prediction.predictionId)).toEqual(['b2']);
    expect(found[0]).toMatchObject({ pipelineId: 'p', requestId: 'req-b2', inputs: { age: 31 } });
    expect(await archive.find('p', ['a2'])).toEqual([]);
    expect(archive.orphanedFilters).toBe(1);
    expect(counted).toHaveLength(1);
  });

  it('removes a day with its id filters first, and keeps the newer days', async () => {
    const { objects, store } = memoryObjects();
    const removed: string[][] = [];
    const remove = store.client.removeObjects;
    store.client.removeObjects = async (bucket: string, keys: string[]) => {
      removed.push(keys);
      await remove(bucket, keys);
    };
    const archive = new PredictionArchive({ objects: store } as never);
    await archive.write([archiveRecord('p', ['old'], SERVED_AT)], new Date('2026-11-01T10:00:00Z'));
    await archive.write([archiveRecord('p', ['new'], SERVED_AT)], new Date('2026-12-01T10:00:00Z'));
    expect(await archive.deleteBefore(new Date('2026-11-15T00:00:00Z'))).toBe(2);
    expect(removed).toHaveLength(1);
    expect(removed[0][0]).toMatch(/\.bloom$/);
    expect(removed[0][1]).toMatch(/\.ndjson\.gz$/);
    expect([...objects.keys()].every((key) => key.includes('2026-12-01'))).toBe(true);
    expect((await archive.find('p', ['new', 'old'])).map((prediction) => prediction.predictionId)).toEqual(['new']);
  });
});
