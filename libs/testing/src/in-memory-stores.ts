import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type PipelineSpec, type PipelineSpecV1 } from '@keel/contracts';
import { modelPipelineOf, type SpecReadOptions, type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import { formatObjectUri, ObjectStore, parseObjectUri, type StoredObject } from '@keel/storage';
import { type CopyDestinationOptions, type CopySourceOptions } from 'minio';

/** One write a handler made, in the order it made them: an object put, or a document a fake repository saved. */
export interface RecordedWrite {
  /** `object:<bucket>` for object puts; for documents, what the fake repository names (a collection, say). */
  readonly target: string;
  /** The object key, or the document's identifying field(s). */
  readonly key: string;
  readonly value: unknown;
}

async function bytesOf(body: Buffer | string | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** An S3 error as the MinIO client raises it, so the store maps it to its typed StorageError. */
function s3Error(code: string, bucket: string, key: string): Error {
  return Object.assign(new Error(`${code}: ${bucket}/${key}`), { code });
}

/** The calls ObjectStore makes on its MinIO client, answered from memory. */
class InMemoryS3Client {
  readonly objects = new Map<string, Buffer>();

  constructor(private readonly writes: RecordedWrite[]) {}

  async bucketExists(): Promise<boolean> {
    return true;
  }

  async makeBucket(): Promise<void> {}

  async listBuckets(): Promise<[]> {
    return [];
  }

  async putObject(bucket: string, key: string, body: Buffer | string | Readable): Promise<void> {
    this.store(bucket, key, await bytesOf(body));
  }

  async statObject(bucket: string, key: string): Promise<{ size: number }> {
    return { size: this.read(bucket, key, 'NotFound').length };
  }

  async getObject(bucket: string, key: string): Promise<Readable> {
    return Readable.from([this.read(bucket, key, 'NoSuchKey')]);
  }

  async copyObject(source: CopySourceOptions, destination: CopyDestinationOptions): Promise<void> {
    this.store(destination.Bucket, destination.Object, this.read(source.Bucket, source.Object, 'NoSuchKey'));
  }

  async removeObject(bucket: string, key: string): Promise<void> {
    this.objects.delete(formatObjectUri({ bucket, key }));
  }

  private read(bucket: string, key: string, missing: string): Buffer {
    const bytes = this.objects.get(formatObjectUri({ bucket, key }));
    if (!bytes) throw s3Error(missing, bucket, key);
    return bytes;
  }

  private store(bucket: string, key: string, bytes: Buffer): void {
    this.objects.set(formatObjectUri({ bucket, key }), bytes);
    // Streamed puts land under a temporary key first; only the final key is the handler's write.
    if (!key.startsWith('.uploads/')) {
      this.writes.push({ target: `object:${bucket}`, key, value: bytes });
    }
  }
}

/**
 * The real ObjectStore on an in-memory S3 client, for unit tests: the same content-addressed keys, the same verified
 * read and the same typed StorageErrors as against MinIO. Each put is recorded in `writes`.
 */
export class InMemoryObjectStore extends ObjectStore {
  private readonly memory: InMemoryS3Client;

  constructor(writes: RecordedWrite[] = []) {
    super({ endpoint: 'http://in-memory.invalid', accessKey: 'in-memory', secretKey: 'in-memory', region: 'local' });
    this.memory = new InMemoryS3Client(writes);
    Object.defineProperty(this, 'client', { value: this.memory });
  }

  /** Stores bytes where putContentAddressed would, without recording a write: state a test is given. */
  seed(bucket: string, prefix: string, bytes: Buffer, options: { extension?: string } = {}): StoredObject {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = `${prefix.replace(/\/$/, '')}/${sha256}${options.extension ?? ''}`;
    const uri = formatObjectUri({ bucket, key });
    this.memory.objects.set(uri, bytes);
    return { uri, bucket, key, sha256, sizeBytes: bytes.length };
  }

  /** Replaces an object's bytes without recording a write, as a corrupted or tampered store would. */
  corrupt(uri: string, bytes: Buffer): void {
    this.memory.objects.set(formatObjectUri(parseObjectUri(uri)), bytes);
  }
}

/** PipelineStore in memory for unit tests: versions on change, UnknownPipelineError for an id never applied. */
export class InMemoryPipelineStore {
  private readonly heads = new Map<string, StoredPipelineSpec>();

  async init(): Promise<void> {}

  async apply(spec: PipelineSpec): Promise<{ stored: StoredPipelineSpec; created: boolean }> {
    const head = this.heads.get(spec.id);
    if (head && JSON.stringify(head.spec) === JSON.stringify(spec)) return { stored: head, created: false };
    const stored = { pipelineId: spec.id, version: (head?.version ?? 0) + 1, spec, appliedAt: new Date() };
    this.heads.set(spec.id, stored);
    return { stored, created: true };
  }

  /** No cache here, so every read is the head (`_options`: the minimum version PipelineStore reads past its cache for). */
  async get(pipelineId: string, _options?: SpecReadOptions): Promise<StoredPipelineSpec> {
    const head = this.heads.get(pipelineId);
    if (!head) throw new UnknownPipelineError(pipelineId);
    return head;
  }

  async getModelPipeline(
    pipelineId: string,
    options?: SpecReadOptions,
  ): Promise<StoredPipelineSpec & { spec: PipelineSpecV1 }> {
    return modelPipelineOf(await this.get(pipelineId, options));
  }

  async list(): Promise<StoredPipelineSpec[]> {
    return [...this.heads.values()].sort((a, b) => a.pipelineId.localeCompare(b.pipelineId));
  }
}
