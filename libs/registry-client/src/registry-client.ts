import {
  type CallOptions,
  type ChannelCredentials,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  type AliasMove,
  ControlRolloutRequest,
  ListAliasHistoryRequest,
  ModelRegistryClient,
  type ModelVersion,
  type Rollout,
  SetAliasRequest,
  StartRolloutRequest,
  type WhichVersionAnsweredResponse,
} from '@keel/grpc-api';
import { registryError, RegistryNotFoundError } from './registry-errors';

/** What callers of the registry use; {@link RegistryClient} is the gRPC implementation, tests may fake it. */
export interface ModelRegistryApi {
  /** One version by number; RegistryNotFoundError when the model or version is unknown. */
  getModelVersion(modelName: string, version: number): Promise<ModelVersion>;
  /** The version an alias points at; RegistryNotFoundError when unset or the model is unknown. */
  resolveAlias(modelName: string, alias: string): Promise<ModelVersion>;
  /** Like {@link resolveAlias}, but undefined when the alias (or the model) does not exist yet. */
  findAlias(modelName: string, alias: string): Promise<ModelVersion | undefined>;
  /** Points an alias at a version, recording and announcing the move; answers the move. */
  setAlias(
    modelName: string,
    alias: string,
    version: number,
    why?: { reason?: string; changedBy?: string },
  ): Promise<AliasMove>;
  /** Every version of a model, newest first, each with the aliases pointing at it. */
  listModelVersions(modelName: string): Promise<ModelVersion[]>;
  /** Moves of one alias (every alias when omitted), newest first. */
  listAliasHistory(modelName: string, alias?: string): Promise<AliasMove[]>;
  /** The model's latest rollout (active or finished), undefined when it never had one. Optional for fakes. */
  findRollout?(modelName: string): Promise<Rollout | undefined>;
}

export interface RegistryClientOptions {
  /** Deadline of each call. */
  deadlineMs?: number;
  /** The calling service's own credential (`Bearer <key>`), sent with every call when the registry enforces access. */
  authorization?: string;
  /** The channel's transport security: plaintext when absent; TLS or mutual TLS from `grpcChannelCredentials`. */
  credentials?: ChannelCredentials;
}

type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/**
 * The typed client of `mlops.registry.v1.ModelRegistry`: a deadline on every call, failures as typed errors
 * (NOT_FOUND and INVALID_ARGUMENT non-retryable, anything else retryable). Connects on first use.
 */
export class RegistryClient implements ModelRegistryApi {
  private readonly client: ModelRegistryClient;
  private readonly deadlineMs: number;
  private readonly authorization?: string;

  constructor(
    readonly address: string,
    options: RegistryClientOptions = {},
  ) {
    this.client = new ModelRegistryClient(address, options.credentials ?? credentials.createInsecure());
    this.deadlineMs = options.deadlineMs ?? 5_000;
    this.authorization = options.authorization;
  }

  getModelVersion(modelName: string, version: number): Promise<ModelVersion> {
    return this.call('GetModelVersion', this.client.getModelVersion, { modelName, version });
  }

  resolveAlias(modelName: string, alias: string): Promise<ModelVersion> {
    return this.call('ResolveAlias', this.client.resolveAlias, { modelName, alias });
  }

  async findAlias(modelName: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      return await this.resolveAlias(modelName, alias);
    } catch (error) {
      if (error instanceof RegistryNotFoundError) return undefined;
      throw error;
    }
  }

  setAlias(
    modelName: string,
    alias: string,
    version: number,
    why: { reason?: string; changedBy?: string } = {},
  ): Promise<AliasMove> {
    const request = SetAliasRequest.fromPartial({ modelName, alias, version, ...why });
    return this.call('SetAlias', this.client.setAlias, request);
  }

  async listModelVersions(modelName: string): Promise<ModelVersion[]> {
    return (await this.call('ListModelVersions', this.client.listModelVersions, { modelName })).versions;
  }

  async listAliasHistory(modelName: string, alias = ''): Promise<AliasMove[]> {
    const request = ListAliasHistoryRequest.fromPartial({ modelName, alias });
    return (await this.call('ListAliasHistory', this.client.listAliasHistory, request)).moves;
  }

  async findRollout(modelName: string): Promise<Rollout | undefined> {
    try {
      return await this.call('GetRollout', this.client.getRollout, { modelName });
    } catch (error) {
      if (error instanceof RegistryNotFoundError) return undefined;
      throw error;
    }
  }

  /** Starts rolling a version out (the spec's strategy unless one is given), superseding an active rollout. */
  startRollout(
    modelName: string,
    version: number,
    by: { actor: string; reason: string; strategy?: string; restart?: boolean },
  ): Promise<Rollout> {
    return this.call(
      'StartRollout',
      this.client.startRollout,
      StartRolloutRequest.fromPartial({ modelName, version, ...by }),
    );
  }

  /** promote, rollback, pause, resume or abort the model's rollout, with actor and reason. */
  controlRollout(modelName: string, action: string, by: { actor: string; reason: string }): Promise<Rollout> {
    return this.call(
      'ControlRollout',
      this.client.controlRollout,
      ControlRolloutRequest.fromPartial({ modelName, action, ...by }),
    );
  }

  /** Which version(s) answered requests for an alias at an instant, with their shares of traffic. */
  whichVersionAnswered(modelName: string, alias: string, at: Date): Promise<WhichVersionAnsweredResponse> {
    return this.call('WhichVersionAnswered', this.client.whichVersionAnswered, {
      modelName,
      alias,
      at: at.toISOString(),
    });
  }

  close(): void {
    this.client.close();
  }

  /** Nest calls this when the client is a provider of a stopping app. */
  onApplicationShutdown(): void {
    this.close();
  }

  private call<Request, Response>(name: string, method: Unary<Request, Response>, request: Request): Promise<Response> {
    const metadata = new Metadata();
    if (this.authorization) metadata.set('authorization', this.authorization);
    return new Promise((resolve, reject) => {
      method.call(
        this.client,
        request,
        metadata,
        { deadline: Date.now() + this.deadlineMs },
        (error: ServiceError | null, response: Response) =>
          error ? reject(registryError(name, error)) : resolve(response),
      );
    });
  }
}
