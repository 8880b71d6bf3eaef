import { Readable } from 'node:stream';
import { encodeCloudEventHeaders } from '@keel/contracts';
import { UnknownPipelineError } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { InMemoryObjectStore, InMemoryPipelineStore, type RecordedWrite } from './in-memory-stores';
import { pipelineSpecFixture } from './fixtures';
import { recordedEvent } from './recorded-event';

describe('InMemoryObjectStore', () => {
  it('given a streamed put, then one write under the content-addressed key and a verified read of the bytes', async () => {
    const writes: RecordedWrite[] = [];
    const store = new InMemoryObjectStore(writes);
    const stored = await store.putContentAddressed('bucket', 'reports/', Readable.from([Buffer.from('a'), 'b']), {
      extension: '.json',
    });
    expect(stored.key).toBe(`reports/${stored.sha256}.json`);
    expect(writes.map((write) => write.key)).toEqual([stored.key]);
    expect((await store.getVerified({ uri: stored.uri, sha256: stored.sha256 })).toString()).toBe('ab');
  });

  it('given seeded, corrupted, missing and oversized objects, then the typed errors of the real store', async () => {
    const store = new InMemoryObjectStore();
    const seeded = store.seed('bucket', 'data', Buffer.from('rows'));
    expect(await store.exists(seeded)).toBe(true);
    await expect(store.getVerified({ uri: seeded.uri, sha256: seeded.sha256, maxBytes: 2 })).rejects.toMatchObject({
      code: 'object-too-large',
    });
    store.corrupt(seeded.uri, Buffer.from('tampered'));
    await expect(store.getVerified({ uri: seeded.uri, sha256: seeded.sha256 })).rejects.toMatchObject({
      code: 'object-integrity',
      retryable: false,
    });
    await expect(store.getVerified({ uri: 's3://bucket/none', sha256: seeded.sha256 })).rejects.toMatchObject({
      code: 'object-not-found',
    });
  });
});

describe('InMemoryPipelineStore', () => {
  it('versions a spec only when it changes and names an unknown pipeline', async () => {
    const store = new InMemoryPipelineStore();
    const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });
    expect((await store.apply(spec)).stored.version).toBe(1);
    expect((await store.apply(spec)).created).toBe(false);
    expect((await store.apply({ ...spec, description: 'changed' })).stored.version).toBe(2);
    await expect(store.get('nobody')).rejects.toBeInstanceOf(UnknownPipelineError);
  });
});

describe('recordedEvent', () => {
  it('decodes a binary-mode CloudEvent and keeps a value that is not one as text', () => {
    const headers = encodeCloudEventHeaders({ id: 'e1', source: '/test', type: 'mlops.test.v1', specversion: '1.0' });
    const event = recordedEvent({ topic: 't', partition: 0, offset: '3', key: 'k', value: '{"a":1}', headers });
    expect(event).toMatchObject({ id: 'e1', type: 'mlops.test.v1', key: 'k', data: { a: 1 } });
    const junk = recordedEvent({ topic: 't.dlq', partition: 0, offset: '4', key: null, value: 'not json' });
    expect(junk).toMatchObject({ id: undefined, data: undefined, value: 'not json', key: undefined });
  });
});
