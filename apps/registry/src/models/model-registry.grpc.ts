import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type sendUnaryData, type ServerUnaryCall, status } from '@grpc/grpc-js';
import { type AliasMove, type ModelRegistryServer, ModelRegistryService, type ModelVersion } from '@keel/grpc-api';
import { GrpcServer } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { RolloutTransitionRefusedError } from '../rollouts/rollout-machine';
import { rolloutHandlers } from '../rollouts/rollouts.grpc';
import { RolloutsService } from '../rollouts/rollouts.service';
import { AliasMovesService } from './alias-moves.service';
import { type AliasMoveRecord } from './aliases.repository';
import {
  ModelQueriesService,
  type ModelVersionView,
  RegistryInvalidArgumentError,
  RegistryNotFoundError,
} from './model-queries.service';

export const MODEL_REGISTRY_SERVICE = 'mlops.registry.v1.ModelRegistry';

/** Wire shape of a version (proto `ModelVersion`). */
export function toProtoVersion(view: ModelVersionView): ModelVersion {
  return {
    modelName: view.modelName,
    version: view.version,
    pipelineId: view.pipelineId,
    packageUri: view.packageUri,
    packageSha256: view.packageSha256,
    algorithm: view.algorithm,
    metrics: view.metrics,
    lineage: view.lineage,
    // proto3 doubles have no "unset": a gate without an observed value reads 0, with its message saying why.
    gates: view.gates.map((gate) => ({
      gate: gate.gate,
      passed: gate.passed,
      observed: gate.observed ?? 0,
      threshold: gate.threshold ?? 0,
      message: gate.message ?? '',
    })),
    gatesPassed: view.gatesPassed,
    aliases: view.aliases,
    createdAt: new Date(view.createdAt).toISOString(),
  };
}

function toProtoMove(move: AliasMoveRecord): AliasMove {
  return {
    alias: move.alias,
    version: move.version,
    previousVersion: move.previousVersion ?? 0,
    reason: move.reason,
    changedBy: move.changedBy,
    changedAt: new Date(move.changedAt).toISOString(),
    sequence: move.sequence ?? 0,
  };
}

function grpcStatusOf(error: unknown): status {
  if (error instanceof RegistryInvalidArgumentError) return status.INVALID_ARGUMENT;
  if (error instanceof RegistryNotFoundError) return status.NOT_FOUND;
  if (error instanceof RolloutTransitionRefusedError) return status.FAILED_PRECONDITION;
  return status.INTERNAL;
}

/**
 * Wraps a read as a unary handler: one span per call, registry errors mapped to gRPC status codes. A NOT_FOUND or
 * INVALID_ARGUMENT answer is a correct answer to the caller's question, so it does not mark the span failed.
 */
function unary<Request extends { modelName: string }, Response>(
  method: string,
  handle: (request: Request) => Promise<Response>,
) {
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
    withSpan(`ModelRegistry/${method}`, { [KeelAttr.MODEL_NAME]: call.request.modelName }, () => handle(call.request), {
      isFailure: (error) => grpcStatusOf(error) === status.INTERNAL,
    }).then(
      (response) => callback(null, response),
      (error: unknown) => callback({ code: grpcStatusOf(error), details: (error as Error).message }),
    );
  };
}

/** Implementation of mlops.registry.v1.ModelRegistry over the query and alias services. */
export function registryImplementation(
  queries: ModelQueriesService,
  aliasMoves: AliasMovesService,
  rollouts: RolloutsService,
): ModelRegistryServer {
  const rollout = rolloutHandlers(rollouts);
  return {
    getModelVersion: unary('GetModelVersion', async (request) =>
      toProtoVersion(await queries.getVersion(request.modelName, request.version)),
    ),
    resolveAlias: unary('ResolveAlias', async (request) =>
      toProtoVersion(await queries.resolveAlias(request.modelName, request.alias)),
    ),
    setAlias: unary('SetAlias', async (request) => toProtoMove((await aliasMoves.setAlias(request)).move)),
    listModelVersions: unary('ListModelVersions', async (request) => ({
      versions: (await queries.listVersions(request.modelName)).map(toProtoVersion),
    })),
    listAliasHistory: unary('ListAliasHistory', async (request) => ({
      moves: (await queries.aliasHistory(request.modelName, request.alias)).map(toProtoMove),
    })),
    getRollout: unary('GetRollout', rollout.getRollout),
    startRollout: unary('StartRollout', rollout.startRollout),
    controlRollout: unary('ControlRollout', rollout.controlRollout),
    whichVersionAnswered: unary('WhichVersionAnswered', rollout.whichVersionAnswered),
  };
}

/** Adds ModelRegistry to the app's gRPC server (which starts after bootstrap). */
@Injectable()
export class ModelRegistryGrpc implements OnModuleInit {
  constructor(
    private readonly grpc: GrpcServer,
    private readonly queries: ModelQueriesService,
    private readonly aliasMoves: AliasMovesService,
    private readonly rollouts: RolloutsService,
  ) {}

  onModuleInit(): void {
    this.grpc.addService(
      MODEL_REGISTRY_SERVICE,
      ModelRegistryService,
      registryImplementation(this.queries, this.aliasMoves, this.rollouts),
      {
        methods: {
          getModelVersion: 'viewer',
          resolveAlias: 'viewer',
          listModelVersions: 'viewer',
          listAliasHistory: 'viewer',
          setAlias: 'deployer',
          getRollout: 'viewer',
          whichVersionAnswered: 'viewer',
          startRollout: 'deployer',
          controlRollout: 'deployer',
        },
        pipelineOf: (_method, request) => (request as { modelName?: string }).modelName || undefined,
      },
    );
  }
}
