import { S3Error } from 'minio';
import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { HttpSourceError } from './http-reader';
import {
  asSourceRead,
  expectedPullFailure,
  failedPullStatus,
  fromSource,
  fromSourceStream,
  SourceReadError,
} from './pull-failures';

const pgError = (code: string, message: string) => Object.assign(new DatabaseError(message, 0, 'error'), { code });
const socket = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED', syscall: 'connect' });

describe('failedPullStatus', () => {
  it.each([
    ['42P01 a table of the spec that does not exist', pgError('42P01', 'relation "public.nope" does not exist')],
    ['42703 a cursor column of the spec that does not exist', pgError('42703', 'column "updated_at" does not exist')],
    ['42601 a syntax error in the spec query', pgError('42601', 'syntax error at or near "FORM"')],
    ['28P01 a login the source refuses', pgError('28P01', 'password authentication failed for user "r"')],
  ])('422 for the declaration PostgreSQL refuses (%s), tagged or not, logged as a warning', (_, error) => {
    expect(failedPullStatus(asSourceRead(error))).toBe(422);
    expect(failedPullStatus(error)).toBe(422);
    expect(expectedPullFailure(asSourceRead(error))).toBe(true);
  });

  it.each([
    ['an API answer', new HttpSourceError('GET http://api.test/rows answered 404')],
    ["the source's PostgreSQL ending the connection (57P01)", asSourceRead(pgError('57P01', 'terminating'))],
    ["the source's PostgreSQL closing the socket", asSourceRead(new Error('Connection terminated unexpectedly'))],
    ["the source's bucket", asSourceRead(new S3Error('Access Denied.'))],
    ['a socket to the source', asSourceRead(socket())],
  ])('502 for a failed read of the source (%s)', (_, error) => {
    expect(failedPullStatus(error)).toBe(502);
    expect(expectedPullFailure(error)).toBe(true);
  });

  it.each([
    ["Keel's own object store refusing a version's bytes", new S3Error('Access Denied.')],
    ["Keel's own MinIO or FerretDB unreachable", socket()],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
  ])('500, logged as an error, for ingestion itself failing (%s)', (_, error) => {
    expect(failedPullStatus(error)).toBe(500);
    expect(expectedPullFailure(error)).toBe(false);
  });
});

describe('tagging reads of the source', () => {
  it('keeps the message and the original as the cause', async () => {
    const original = socket();
    const tagged = await fromSource(Promise.reject(original)).catch((error: unknown) => error);
    expect(tagged).toBeInstanceOf(SourceReadError);
    expect(tagged).toMatchObject({ message: original.message, cause: original });
    expect(asSourceRead(tagged)).toBe(tagged);
  });

  it('tags a failure in the middle of a stream, after the items before it', async () => {
    async function* rows() {
      yield 1;
      throw pgError('57P01', 'terminating connection due to administrator command');
    }
    const seen: number[] = [];
    const failure = await (async () => {
      for await (const row of fromSourceStream(rows())) seen.push(row);
    })().catch((error: unknown) => error);
    expect(seen).toEqual([1]);
    expect(failedPullStatus(failure)).toBe(502);
    expect(failure).toBeInstanceOf(SourceReadError);
  });
});
