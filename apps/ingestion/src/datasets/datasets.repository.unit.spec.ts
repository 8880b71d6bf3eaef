import { describe, expect, it } from 'vitest';
import { type DatasetVersion, DatasetsRepository, type HeadDocument } from './datasets.repository';

/**
 * A heads collection over a Map with MongoDB's semantics for the calls advanceHead and head make: a filter on `_id`
 * and `createdAt: { $lt }`, and an upsert whose insert meets an existing `_id` fails with a duplicate key (11000).
 */
function fakeHeads() {
  const heads = new Map<string, HeadDocument>();
  const model = {
    findById: (id: string) => ({ lean: () => Promise.resolve(heads.has(id) ? { ...heads.get(id)! } : null) }),
    updateOne: (
      filter: { _id: string; createdAt?: { $lt: Date } },
      update: { $set: Partial<HeadDocument> },
      options?: { upsert?: boolean },
    ) => {
      const stored = heads.get(filter._id);
      const matches = stored && (!filter.createdAt || stored.createdAt < filter.createdAt.$lt);
      if (matches) heads.set(filter._id, { ...stored, ...update.$set });
      else if (stored && options?.upsert) return Promise.reject(Object.assign(new Error('E11000'), { code: 11000 }));
      else if (options?.upsert) heads.set(filter._id, { _id: filter._id, ...update.$set } as HeadDocument);
      return Promise.resolve({});
    },
  };
  return { repository: new DatasetsRepository({ mongo: { model: () => model } } as never), heads };
}

const version = (id: string, at: number): DatasetVersion =>
  ({ datasetVersionId: id, pipelineId: 'p', createdAt: new Date(at), sequence: 2 }) as DatasetVersion;

describe('the dataset head with two writers of one pipeline (two sources, or a pull and a cut)', () => {
  it('stays on the newer version when the older write advances last with the head it read before its upsert', async () => {
    const { repository, heads } = fakeHeads();
    heads.set('p', { _id: 'p', datasetVersionId: 'h0', createdAt: new Date(1_000), sequence: 1 });
    // given A and B both read the head for their parent (write() does, before its upsert)
    const readByA = await repository.head('p');
    const readByB = await repository.head('p');
    // when A's version is created first (t=2000) and B's second (t=3000), and B advances the head first
    await repository.advanceHead(version('B', 3_000), readByB);
    await repository.advanceHead(version('A', 2_000), readByA);
    // then B stays the head
    expect(heads.get('p')).toMatchObject({ datasetVersionId: 'B', createdAt: new Date(3_000) });
  });

  it('creates the head of a pipeline that has none, and moves it to a newer version', async () => {
    const { repository, heads } = fakeHeads();
    await repository.advanceHead(version('A', 2_000), null);
    expect(heads.get('p')).toMatchObject({ datasetVersionId: 'A', sequence: 2 });
    await repository.advanceHead(version('B', 3_000));
    expect(heads.get('p')).toMatchObject({ datasetVersionId: 'B', createdAt: new Date(3_000) });
  });
});
