import { ConflictException, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { LeaseLostError } from '@keel/coordination';
import { S3Error } from 'minio';
import { DatabaseError } from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpSourceError } from './http-reader';
import { asSourceRead, SourceConfigError, SourcePullFailedError } from './pull-failures';
import { SourcePullsService } from './source-pulls.service';
import { type SourceRun } from './source-state.repository';
import { SourcesController } from './sources.controller';

const run = (error?: string): SourceRun =>
  ({
    _id: 'pull-1',
    pipelineId: 'p',
    sourceId: 's',
    trigger: 'api',
    status: error ? 'failed' : 'succeeded',
    rowsRead: 0,
    rowsRejected: 0,
    rejections: [],
    datasetVersionIds: [],
    watermarkFrom: null,
    watermarkTo: null,
    resumed: false,
    ...(error ? { error } : {}),
  }) as unknown as SourceRun;

const refusedSocket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), {
  code: 'ECONNREFUSED',
  syscall: 'connect',
});
const noBucket = Object.assign(new S3Error('The specified bucket does not exist'), { code: 'NoSuchBucket' });

/** What the fake service's pull of each source id fails with, as the real one does: the run, and why. */
const pgError = (code: string, message: string) => Object.assign(new DatabaseError(message, 0, 'error'), { code });
const failures: Record<string, unknown> = {
  secret: new SourceConfigError("source s reads CRM_TOKEN, which is not set in ingestion's environment"),
  api: new HttpSourceError('GET http://api.test/rows answered 200 with a body that is not JSON'),
  table: asSourceRead(pgError('42P01', 'relation "public.no_such_table" does not exist')),
  login: asSourceRead(pgError('28P01', 'password authentication failed for user "reader"')),
  killed: asSourceRead(pgError('57P01', 'terminating connection due to administrator command')),
  bucket: asSourceRead(noBucket),
  socket: asSourceRead(refusedSocket),
  terminated: asSourceRead(new Error('Connection terminated unexpectedly')),
  keelStore: new S3Error('Access Denied.'),
  keelSocket: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), {
    code: 'ECONNREFUSED',
    syscall: 'connect',
  }),
  lease: new LeaseLostError('ingestion-source/p/s', 3),
  bug: new TypeError("Cannot read properties of undefined (reading 'x')"),
};

const pulls = {
  pull: (_: string, sourceId: string): Promise<SourceRun> => {
    if (sourceId === 'ok') return Promise.resolve(run());
    if (sourceId === 'busy') return Promise.reject(new ConflictException('a pull of source busy is running'));
    const reason = failures[sourceId] as Error;
    return Promise.reject(new SourcePullFailedError(run(reason.message), reason));
  },
};

/** Nest's own log, to see what it reports as an unhandled exception. */
const logged: string[] = [];
const logger: LoggerService = {
  log: () => undefined,
  warn: () => undefined,
  error: (message: unknown, ...rest: unknown[]) => void logged.push([message, ...rest].map(String).join(' ')),
};

@Module({ controllers: [SourcesController], providers: [{ provide: SourcePullsService, useValue: pulls }] })
class SourcesRoutes {}

describe('POST .../sources/<source>/pulls answers', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    app = await NestFactory.create<NestExpressApplication>(SourcesRoutes, { logger });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(() => {
    logged.length = 0;
  });

  const pull = async (sourceId: string) => {
    const response = await fetch(`${url}/api/v1/pipelines/p/sources/${sourceId}/pulls`, { method: 'POST' });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('200 with the run when the pull succeeds, 409 while another pull of the source runs', async () => {
    expect(await pull('ok')).toMatchObject({ status: 200, body: { status: 'succeeded' } });
    expect(await pull('busy')).toMatchObject({ status: 409, body: { message: 'a pull of source busy is running' } });
  });

  it.each([
    ['secret', 422, 'a secret the spec names is not in ingestion’s environment'],
    ['api', 502, 'the API answered what no retry changes'],
    ['table', 422, "the spec's table is not in the source's PostgreSQL"],
    ['login', 422, "the source's PostgreSQL refused the spec's login"],
    ['killed', 502, "the source's PostgreSQL ended the connection"],
    ['bucket', 502, "the bucket's object store refused"],
    ['socket', 502, 'the source could not be reached'],
    ['terminated', 502, "the source's PostgreSQL closed the connection"],
    ['lease', 409, 'another replica took the pull over'],
  ])('a failed pull (%s) answers %i with the failed run, its error saying why (%s)', async (sourceId, status) => {
    const answer = await pull(sourceId);
    const { message } = failures[sourceId] as Error;
    expect(answer).toEqual({ status, body: { ...run(message) } });
    expect(answer.body.error).toBe(message);
    // an expected failure is the source's: not an unhandled exception in ingestion's log
    expect(logged).toEqual([]);
  });

  it.each(['bug', 'keelStore', 'keelSocket'])(
    "500 with the failed run when ingestion itself failed (%s: a bug, Keel's own object store)",
    async (sourceId) => {
      expect(await pull(sourceId)).toEqual({ status: 500, body: run((failures[sourceId] as Error).message) });
    },
  );
});
