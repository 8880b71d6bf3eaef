import { createHash } from 'node:crypto';
import { datasetSchema } from '@keel/contracts';
import { parsePipelineSpec, type StoredPipelineSpec } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { describe, expect, it } from 'vitest';
import { type StagingThread } from '../staging/staging-thread';
import { datasetIngestedEventId, datasetVersionId, DatasetVersionsService } from './dataset-versions.service';
import { type DatasetsRepository, type DatasetVersion } from './datasets.repository';

const spec = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'versions-unit',
  task: 'binary-classification',
  target: { column: 'income', positive: '>50K' },
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'race', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});
const pipeline = { spec, version: 2 } as StoredPipelineSpec;
const bytes = Buffer.from('parquet bytes of a recorded cut');
const sha256 = createHash('sha256').update(bytes).digest('hex');

/** The service over object storage, documents and events in memory; `calls` logs what it asked of them. */
function service(stored: { object?: Buffer; document?: DatasetVersion }) {
  const calls: string[] = [];
  const upserted: DatasetVersion[] = [];
  const published: { columns: unknown }[] = [];
  const infra = {
    objects: {
      exists: () => {
        calls.push('exists');
        return Promise.resolve(stored.object !== undefined);
      },
      getVerified: () => {
        calls.push('getVerified');
        return Promise.resolve(stored.object);
      },
      putContentAddressed: (_bucket: string, prefix: string, body: Buffer) =>
        Promise.resolve({ uri: `s3://datasets/${prefix}/${sha256}.parquet`, sha256, sizeBytes: body.length }),
    },
    publisher: {
      publish: (_type: unknown, data: { columns: unknown }) => {
        published.push(data);
        return Promise.resolve();
      },
    },
  };
  const datasets = {
    get: () => Promise.resolve(stored.document ?? null),
    head: () => Promise.resolve(null),
    latest: () => Promise.resolve(null),
    upsert: (version: DatasetVersion) => {
      upserted.push(version);
      return Promise.resolve(version);
    },
    advanceHead: () => Promise.resolve(),
  };
  const versions = new DatasetVersionsService(
    infra as unknown as Infrastructure,
    datasets as unknown as DatasetsRepository,
    {} as StagingThread,
  );
  return { versions, calls, upserted, published };
}

describe('DatasetVersionsService.writeStored', () => {
  it('labels a version finished from its stored bytes with the columns they were encoded with, not the spec now', async () => {
    // The plan recorded bytes of [age, income]; the spec gained `race` before the version was finished.
    const encodedWith = [
      { name: 'age', type: 'number' as const },
      { name: 'income', type: 'string' as const },
    ];
    expect(datasetSchema(spec).map((column) => column.name)).toEqual(['age', 'race', 'income']);
    const { versions, upserted, published } = service({ object: bytes });
    const version = await versions.writeStored(pipeline, sha256, 3, ['kafka:records/0@1'], encodedWith);
    expect(version?.columns).toEqual(encodedWith);
    expect(upserted.map((document) => document.columns)).toEqual([encodedWith]);
    expect(published.map((event) => event.columns)).toEqual([encodedWith]);
  });

  it('takes the dataset schema now for a plan that recorded no columns', async () => {
    const { versions, upserted } = service({ object: bytes });
    await versions.writeStored(pipeline, sha256, 3, []);
    expect(upserted[0].columns.map((column) => column.name)).toEqual(['age', 'race', 'income']);
  });

  it('announces a version whose document exists without downloading its bytes', async () => {
    const document = { datasetVersionId: datasetVersionId(spec.id, sha256), columns: [] } as unknown as DatasetVersion;
    const { versions, calls, upserted, published } = service({ object: bytes, document });
    await expect(versions.writeStored(pipeline, sha256, 3, [])).resolves.toBe(document);
    expect(calls).toEqual([]);
    expect(upserted).toEqual([]);
    expect(published).toHaveLength(1);
  });

  it('answers null when the bytes never reached the store', async () => {
    const { versions, calls } = service({});
    await expect(versions.writeStored(pipeline, sha256, 3, [])).resolves.toBeNull();
    expect(calls).toEqual(['exists']);
  });
});

describe('dataset version ids', () => {
  const sha = 'c'.repeat(64);

  it('given two pipelines with identical content, then their version ids and event ids differ', () => {
    const a = datasetVersionId('pipeline-a', sha);
    const b = datasetVersionId('pipeline-b', sha);
    expect(b).not.toBe(a);
    expect(datasetIngestedEventId(b, 1)).not.toBe(datasetIngestedEventId(a, 1));
  });

  it('given the same content again, then the same version and event id; under a changed spec, a new event id', () => {
    const id = datasetVersionId('pipeline-a', sha);
    expect(datasetVersionId('pipeline-a', sha)).toBe(id);
    expect(datasetIngestedEventId(id, 1)).toBe(datasetIngestedEventId(id, 1));
    expect(datasetIngestedEventId(id, 2)).not.toBe(datasetIngestedEventId(id, 1));
  });
});
