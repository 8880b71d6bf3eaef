import { createHash } from 'node:crypto';
import { type Readable } from 'node:stream';
import { type PipelineSpecV1 } from '@keel/contracts';
import { type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import {
  formatObjectUri,
  IntegrityError,
  type ObjectLocation,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectTooLargeError,
  parseObjectUri,
  sha256InKey,
  StorageError,
  type StoredObject,
  type VerifiedRead,
} from '@keel/storage';

/** One write a handler made, in the order it made them: an object put, or a document a fake repository saved. */
export interface RecordedWrite {
  /** `object:<bucket>` for object puts; for documents, what the fake repository names (a collection, say). */
  readonly target: string;
  /** The object key, or the document's identifying field(s). */
  readonly key: string;
  readonly value: unknown;
}

async function bytesOf(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function contentAddressed(bucket: string, prefix: string, bytes: Buffer, extension = '') {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const key = `${prefix.replace(/\/$/, '')}/${sha256}${extension}`;
  const object: StoredObject = { uri: formatObjectUri({ bucket, key }), bucket, key, sha256, sizeBytes: bytes.length };
  return { bucket, key, bytes, object };
}

/**
 * ObjectStore in memory for unit tests: the same content-addressed keys (`<prefix>/<sha256><extension>`), the same
 * verified read and the same typed StorageErrors as the real one, so a handler cannot tell it from MinIO.
 */
export class InMemoryObjectStore implements Pick<
  ObjectStore,
  'ensureBuckets' | 'ping' | 'put' | 'putContentAddressed' | 'exists' | 'getVerified'
> {
  private readonly objects = new Map<string, Buffer>();

  constructor(private readonly writes: RecordedWrite[] = []) {}

  async ensureBuckets(): Promise<void> {}

  async ping(): Promise<void> {}

  async put(location: ObjectLocation, body: Buffer | Readable): Promise<void> {
    const bytes = await bytesOf(body);
    this.objects.set(formatObjectUri(location), bytes);
    this.writes.push({ target: `object:${location.bucket}`, key: location.key, value: bytes });
  }

  async putContentAddressed(
    bucket: string,
    prefix: string,
    body: Buffer | Readable,
    options: { extension?: string } = {},
  ): Promise<StoredObject> {
    const stored = contentAddressed(bucket, prefix, await bytesOf(body), options.extension);
    if (!(await this.exists(stored))) await this.put(stored, stored.bytes);
    return stored.object;
  }

  /** Stores bytes where putContentAddressed would, without recording a write: state a test is given. */
  seed(bucket: string, prefix: string, bytes: Buffer, options: { extension?: string } = {}): StoredObject {
    const stored = contentAddressed(bucket, prefix, bytes, options.extension);
    this.objects.set(stored.object.uri, bytes);
    return stored.object;
  }

  async exists(location: ObjectLocation): Promise<boolean> {
    return this.objects.has(formatObjectUri(location));
  }

  async getVerified({ uri, sha256, maxBytes = 1024 ** 3 }: VerifiedRead): Promise<Buffer> {
    let location: ObjectLocation;
    try {
      location = parseObjectUri(uri);
    } catch (error) {
      throw new StorageError('storage-rejected', uri, (error as Error).message);
    }
    const inKey = sha256InKey(location.key);
    if (inKey && inKey !== sha256) throw new IntegrityError(uri, sha256, inKey);
    const bytes = this.objects.get(formatObjectUri(location));
    if (!bytes) throw new ObjectNotFoundError(uri);
    if (bytes.length > maxBytes) throw new ObjectTooLargeError(uri, maxBytes);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new IntegrityError(uri, sha256, actual);
    return bytes;
  }

  /** Replaces an object's bytes without recording a write, as a corrupted or tampered store would. */
  corrupt(uri: string, bytes: Buffer): void {
    this.objects.set(uri, bytes);
  }
}

/** PipelineStore in memory for unit tests: versions on change, UnknownPipelineError for an id never applied. */
export class InMemoryPipelineStore {
  private readonly heads = new Map<string, StoredPipelineSpec>();

  async init(): Promise<void> {}

  async apply(spec: PipelineSpecV1): Promise<{ stored: StoredPipelineSpec; created: boolean }> {
    const head = this.heads.get(spec.id);
    if (head && JSON.stringify(head.spec) === JSON.stringify(spec)) return { stored: head, created: false };
    const stored = { pipelineId: spec.id, version: (head?.version ?? 0) + 1, spec, appliedAt: new Date() };
    this.heads.set(spec.id, stored);
    return { stored, created: true };
  }

  async get(pipelineId: string): Promise<StoredPipelineSpec> {
    const head = this.heads.get(pipelineId);
    if (!head) throw new UnknownPipelineError(pipelineId);
    return head;
  }

  async list(): Promise<StoredPipelineSpec[]> {
    return [...this.heads.values()].sort((a, b) => a.pipelineId.localeCompare(b.pipelineId));
  }
}
