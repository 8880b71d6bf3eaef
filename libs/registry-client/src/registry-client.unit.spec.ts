import { type sendUnaryData, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { AliasMove, type ModelRegistryServer, ModelRegistryService, ModelVersion, Rollout } from '@keel/grpc-api';
import { isRetryable } from '@keel/messaging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './registry-client';
import {
  RegistryFailedPreconditionError,
  RegistryInvalidArgumentError,
  RegistryNotFoundError,
  RegistryUnavailableError,
} from './registry-errors';

const v3 = ModelVersion.fromPartial({ modelName: 'm', version: 3, packageUri: 's3://keel-models/m/x.json' });

/** A registry on loopback whose answers depend on the model name asked for. */
const registry: ModelRegistryServer = {
  getModelVersion: ({ request }, callback) => answer(request.modelName, callback, v3),
  resolveAlias: ({ request }, callback) => answer(request.modelName, callback, { ...v3, aliases: [request.alias] }),
  setAlias: ({ request }, callback) =>
    answer(
      request.modelName,
      callback,
      AliasMove.fromPartial({ alias: request.alias, version: request.version, sequence: 2 }),
    ),
  listModelVersions: ({ request }, callback) => answer(request.modelName, callback, { versions: [v3] }),
  listAliasHistory: ({ request }, callback) => answer(request.modelName, callback, { moves: [] }),
  getRollout: ({ request }, callback) =>
    answer(request.modelName, callback, Rollout.fromPartial({ modelName: request.modelName, state: 'progressing' })),
  startRollout: ({ request }, callback) =>
    answer(
      request.modelName,
      callback,
      Rollout.fromPartial({ candidateVersion: request.version, actor: request.actor }),
    ),
  controlRollout: ({ request }, callback) =>
    request.action === 'resume'
      ? callback({ code: status.FAILED_PRECONDITION, details: 'cannot resume rollout m/v4/1: it is promoted (final)' })
      : answer(request.modelName, callback, Rollout.fromPartial({ trigger: request.action, reason: request.reason })),
  whichVersionAnswered: ({ request }, callback) =>
    answer(request.modelName, callback, {
      versions: [{ version: 3, weight: 100, role: request.alias }],
      rolloutId: '',
    }),
};

function answer<T>(modelName: string, callback: sendUnaryData<T>, response: T): void {
  if (modelName === 'missing') return callback({ code: status.NOT_FOUND, details: 'model "missing" not found' });
  if (modelName === '') return callback({ code: status.INVALID_ARGUMENT, details: 'model_name: is required' });
  if (modelName === 'slow') {
    setTimeout(() => callback(null, response), 3_000).unref();
    return;
  }
  if (modelName === 'broken') return callback({ code: status.INTERNAL, details: 'disk on fire' });
  callback(null, response);
}

describe('RegistryClient', () => {
  const server = new Server();
  let client: RegistryClient;
  let impatient: RegistryClient;

  beforeAll(async () => {
    server.addService(ModelRegistryService, registry);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = new RegistryClient(`127.0.0.1:${port}`);
    impatient = new RegistryClient(`127.0.0.1:${port}`, { deadlineMs: 300 });
  });

  afterAll(() => {
    client?.close();
    impatient?.close();
    server.forceShutdown();
  });

  it('given a known model, when asked, then answers with typed messages', async () => {
    expect(await client.getModelVersion('m', 3)).toMatchObject({ version: 3, packageUri: 's3://keel-models/m/x.json' });
    expect((await client.resolveAlias('m', 'staging')).aliases).toEqual(['staging']);
    expect((await client.listModelVersions('m')).map((v) => v.version)).toEqual([3]);
    expect(await client.listAliasHistory('m')).toEqual([]);
    expect(await client.setAlias('m', 'staging', 3, { reason: 'trial' })).toMatchObject({
      alias: 'staging',
      sequence: 2,
    });
  });

  it('given NOT_FOUND, then a non-retryable RegistryNotFoundError, and findAlias answers undefined', async () => {
    const error = await client.getModelVersion('missing', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryNotFoundError);
    expect(error).toMatchObject({
      code: 'registry-not-found',
      message: expect.stringMatching(/GetModelVersion.*missing/),
    });
    expect(isRetryable(error)).toBe(false);
    expect(await client.findAlias('missing', 'staging')).toBeUndefined();
  });

  it('given INVALID_ARGUMENT, then a non-retryable RegistryInvalidArgumentError', async () => {
    const error = await client.resolveAlias('', 'staging').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryInvalidArgumentError);
    expect(error).toMatchObject({ code: 'registry-invalid-argument' });
    expect(isRetryable(error)).toBe(false);
  });

  it('given a failure inside the registry or a missed deadline, then a retryable RegistryUnavailableError', async () => {
    const internal = await client.findAlias('broken', 'staging').catch((e: unknown) => e);
    expect(internal).toBeInstanceOf(RegistryUnavailableError);
    expect(internal).toMatchObject({ code: 'registry-unavailable', grpcStatus: status.INTERNAL });
    expect(isRetryable(internal)).toBe(true);
    const late = await impatient.getModelVersion('slow', 1).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'registry-unavailable', grpcStatus: status.DEADLINE_EXCEEDED });
  });

  it('given a rollout, then reads, starts and controls it, and asks which version answered', async () => {
    expect(await client.findRollout('m')).toMatchObject({ modelName: 'm', state: 'progressing' });
    expect(await client.findRollout('missing')).toBeUndefined();
    expect(await client.startRollout('m', 4, { actor: 'alice', reason: 'try' })).toMatchObject({
      candidateVersion: 4,
      actor: 'alice',
    });
    expect(await client.controlRollout('m', 'pause', { actor: 'bob', reason: 'look' })).toMatchObject({
      trigger: 'pause',
      reason: 'look',
    });
    const refused = await client.controlRollout('m', 'resume', { actor: 'bob', reason: 'go' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RegistryFailedPreconditionError);
    expect(isRetryable(refused)).toBe(false);
    expect((await client.whichVersionAnswered('m', 'champion', new Date())).versions).toEqual([
      { version: 3, weight: 100, role: 'champion' },
    ]);
  });

  it('given nothing listening, then a retryable RegistryUnavailableError', async () => {
    const nowhere = new RegistryClient('127.0.0.1:1', { deadlineMs: 300 });
    try {
      const error = await nowhere.getModelVersion('m', 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryUnavailableError);
      expect(isRetryable(error)).toBe(true);
    } finally {
      nowhere.close();
    }
  });
});
