import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { IntegrityError, ObjectTooLargeError, StorageError, toStorageError } from './errors';
import { formatObjectUri, type ObjectLocation, parseObjectUri, sha256InKey } from './object-uri';

export interface ObjectStoreConfig {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

/** Where a content-addressed object landed. */
export interface StoredObject {
  uri: string;
  bucket: string;
  key: string;
  sha256: string;
  sizeBytes: number;
}

/** Hashes bytes as they stream past. */
class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

function isNotFound(error: unknown): boolean {
  return toStorageError(error, '').code === 'object-not-found';
}

/** What a verified read needs: where the object is, what its bytes must hash to, and how large it may be. */
export interface VerifiedRead {
  uri: string;
  /** Expected sha256 (hex), as announced by the event or record that points at the object. */
  sha256: string;
  /** The read fails with ObjectTooLargeError past this many bytes, before buffering them; default 1 GiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_READ_BYTES = 1024 ** 3;

/**
 * Artifacts in S3-compatible storage (MinIO locally). Content-addressed puts put the sha256 in the key, so the
 * same bytes land once and a reader can verify what it got against the key alone.
 */
export class ObjectStore {
  readonly client: Client;

  constructor(config: ObjectStoreConfig) {
    const url = new URL(config.endpoint);
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      useSSL: url.protocol === 'https:',
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      // Explicit region: otherwise every first request per bucket costs a GetBucketLocation round trip.
      region: config.region,
    });
  }

  /** Creates the buckets that do not exist yet; safe to call from every service at start-up. */
  async ensureBuckets(buckets: readonly string[]): Promise<void> {
    for (const bucket of buckets) {
      if (await this.client.bucketExists(bucket)) continue;
      try {
        await this.client.makeBucket(bucket);
      } catch (error) {
        // Another service may have created it between our check and our create.
        const code = (error as { code?: unknown }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    }
  }

  /** Liveness of the storage endpoint, for health checks. */
  async ping(): Promise<void> {
    await this.client.listBuckets();
  }

  async put(
    location: ObjectLocation,
    body: Buffer | Readable,
    contentType = 'application/octet-stream',
  ): Promise<void> {
    await this.client.putObject(location.bucket, location.key, body, undefined, { 'Content-Type': contentType });
  }

  /**
   * Stores bytes under `<prefix>/<sha256><extension>`. A stream is hashed while it uploads to a temporary key
   * and then copied server-side to its final key, so nothing is buffered in memory whatever the size.
   */
  async putContentAddressed(
    bucket: string,
    prefix: string,
    body: Buffer | Readable,
    options: { extension?: string; contentType?: string } = {},
  ): Promise<StoredObject> {
    const extension = options.extension ?? '';
    const contentType = options.contentType ?? 'application/octet-stream';
    const finalKey = (sha256: string) => `${prefix.replace(/\/$/, '')}/${sha256}${extension}`;
    if (Buffer.isBuffer(body)) {
      const sha256 = createHash('sha256').update(body).digest('hex');
      const key = finalKey(sha256);
      if (!(await this.exists({ bucket, key }))) await this.put({ bucket, key }, body, contentType);
      return { uri: formatObjectUri({ bucket, key }), bucket, key, sha256, sizeBytes: body.length };
    }
    const hashing = new HashingStream();
    const tempKey = `.uploads/${randomUUID()}`;
    const upload = new PassThrough();
    const uploaded = this.put({ bucket, key: tempKey }, upload, contentType);
    await pipeline(body, hashing, upload);
    await uploaded;
    const sha256 = hashing.digest();
    const key = finalKey(sha256);
    try {
      if (!(await this.exists({ bucket, key }))) {
        await this.client.copyObject(
          new CopySourceOptions({ Bucket: bucket, Object: tempKey }),
          new CopyDestinationOptions({ Bucket: bucket, Object: key }),
        );
      }
    } finally {
      await this.client.removeObject(bucket, tempKey);
    }
    return { uri: formatObjectUri({ bucket, key }), bucket, key, sha256, sizeBytes: hashing.size };
  }

  async exists(location: ObjectLocation): Promise<boolean> {
    try {
      await this.client.statObject(location.bucket, location.key);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * The one way to read an artifact: streams it, hashing and counting as bytes arrive, and resolves with the bytes
   * only when they hash to `sha256` (and to the sha256 in a content-addressed key, which must agree). Every failure
   * is a typed StorageError (see errors.ts) that says whether retrying can help.
   */
  async getVerified({ uri, sha256, maxBytes = DEFAULT_MAX_READ_BYTES }: VerifiedRead): Promise<Buffer> {
    let location: ObjectLocation;
    try {
      location = parseObjectUri(uri);
    } catch (error) {
      throw new StorageError('storage-rejected', uri, (error as Error).message);
    }
    const inKey = sha256InKey(location.key);
    if (inKey && inKey !== sha256) throw new IntegrityError(uri, sha256, inKey);
    try {
      const source = await this.client.getObject(location.bucket, location.key);
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          source.destroy();
          throw new ObjectTooLargeError(uri, maxBytes);
        }
        hash.update(chunk);
        chunks.push(chunk);
      }
      const actual = hash.digest('hex');
      if (actual !== sha256) throw new IntegrityError(uri, sha256, actual);
      return Buffer.concat(chunks, size);
    } catch (error) {
      throw toStorageError(error, uri);
    }
  }
}
