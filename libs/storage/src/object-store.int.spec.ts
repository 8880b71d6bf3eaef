import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { stackEndpoints, uniqueName } from '@keel/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, ObjectNotFoundError, ObjectTooLargeError, StorageError } from './errors';
import { ObjectStore } from './object-store';

describe('ObjectStore against real MinIO', () => {
  const store = new ObjectStore(stackEndpoints.s3);
  const bucket = uniqueName('it');

  beforeAll(async () => {
    await store.ensureBuckets([bucket]);
    await store.ensureBuckets([bucket]); // idempotent
  });

  it('round-trips a buffer under its sha256 and verifies it on read', async () => {
    const body = Buffer.from('age,income\n39,<=50K\n');
    const stored = await store.putContentAddressed(bucket, 'datasets/adult', body, { extension: '.csv' });
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(stored).toMatchObject({ sha256, sizeBytes: body.length, key: `datasets/adult/${sha256}.csv` });
    expect(stored.uri).toBe(`s3://${bucket}/datasets/adult/${sha256}.csv`);
    expect(await store.getVerified({ uri: stored.uri, sha256 })).toEqual(body);
  });

  it('streams a large object in and out without buffering it whole, same key as the buffer path', async () => {
    const body = randomBytes(12 * 1024 * 1024);
    const chunks = Array.from({ length: 12 }, (_, i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const streamed = await store.putContentAddressed(bucket, 'blobs', Readable.from(chunks), { extension: '.bin' });
    const buffered = await store.putContentAddressed(bucket, 'blobs', body, { extension: '.bin' });
    expect(streamed.key).toBe(buffered.key);
    expect(streamed.sizeBytes).toBe(body.length);
    expect((await store.getVerified({ uri: streamed.uri, sha256: streamed.sha256 })).equals(body)).toBe(true);
  });

  it('refuses bytes that do not match the sha256 in their key', async () => {
    const stored = await store.putContentAddressed(bucket, 'tamper', Buffer.from('original'));
    await store.put({ bucket, key: stored.key }, Buffer.from('tampered'));
    const read = store.getVerified({ uri: stored.uri, sha256: stored.sha256 });
    await expect(read).rejects.toBeInstanceOf(IntegrityError);
    await expect(read).rejects.toMatchObject({ code: 'object-integrity', retryable: false });
  });

  it('refuses a sha256 that differs from the one in a content-addressed key without reading', async () => {
    const stored = await store.putContentAddressed(bucket, 'mismatch', Buffer.from('bytes'));
    await expect(store.getVerified({ uri: stored.uri, sha256: 'f'.repeat(64) })).rejects.toBeInstanceOf(IntegrityError);
  });

  it('stops reading past maxBytes', async () => {
    const stored = await store.putContentAddressed(bucket, 'big', randomBytes(64 * 1024));
    await expect(store.getVerified({ uri: stored.uri, sha256: stored.sha256, maxBytes: 1024 })).rejects.toBeInstanceOf(
      ObjectTooLargeError,
    );
  });

  it('says an unreachable server may heal by retrying', async () => {
    const down = new ObjectStore({ ...stackEndpoints.s3, endpoint: 'http://127.0.0.1:1' });
    const read = down.getVerified({ uri: `s3://${bucket}/x/${'0'.repeat(64)}`, sha256: '0'.repeat(64) });
    await expect(read).rejects.toBeInstanceOf(StorageError);
    await expect(read).rejects.toMatchObject({ code: 'storage-unavailable', retryable: true });
  });

  it('names a missing object', async () => {
    const read = store.getVerified({ uri: `s3://${bucket}/nope/${'0'.repeat(64)}`, sha256: '0'.repeat(64) });
    await expect(read).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(read).rejects.toMatchObject({ code: 'object-not-found', retryable: false });
  });
});
