import { Injectable, type OnModuleInit } from '@nestjs/common';
import {
  loadPackageDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { REGISTRY_PROTO } from '@keel/contracts';
import { GrpcServer } from '@keel/service-runtime';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { type AliasMoveRecord } from './aliases.repository';
import {
  type ModelQueriesService as Queries,
  ModelQueriesService,
  type ModelVersionView,
  RegistryInvalidArgumentError,
  RegistryNotFoundError,
} from './model-queries.service';

export const MODEL_REGISTRY_SERVICE = 'mlops.registry.v1.ModelRegistry';

/** Loader options shared by the server and its clients: camelCase fields, int64 as numbers, enums as strings. */
export const REGISTRY_LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** The ModelRegistry service definition, from the repository's proto. */
export function loadRegistryService(): ServiceDefinition {
  const packageDefinition = loadSync(REGISTRY_PROTO, REGISTRY_LOADER_OPTIONS);
  const root = loadPackageDefinition(packageDefinition) as unknown as {
    mlops: { registry: { v1: { ModelRegistry: { service: ServiceDefinition } } } };
  };
  return root.mlops.registry.v1.ModelRegistry.service;
}

const tracer = trace.getTracer('keel-registry');

/** Wire shape of a version (proto `ModelVersion`, camelCase). */
export function toProtoVersion(view: ModelVersionView) {
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

function toProtoMove(move: AliasMoveRecord) {
  return {
    alias: move.alias,
    version: move.version,
    previousVersion: move.previousVersion ?? 0,
    reason: move.reason,
    changedBy: move.changedBy,
    changedAt: new Date(move.changedAt).toISOString(),
  };
}

/** Wraps a read as a unary handler: one span per call, registry errors mapped to gRPC status codes. */
function unary<Request, Response>(method: string, read: (request: Request) => Promise<Response>) {
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
    void tracer.startActiveSpan(`ModelRegistry/${method}`, async (span) => {
      try {
        callback(null, await read(call.request));
      } catch (error) {
        const code =
          error instanceof RegistryInvalidArgumentError
            ? status.INVALID_ARGUMENT
            : error instanceof RegistryNotFoundError
              ? status.NOT_FOUND
              : status.INTERNAL;
        if (code === status.INTERNAL) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        }
        callback({ code, details: (error as Error).message });
      } finally {
        span.end();
      }
    });
  };
}

interface VersionRequest {
  modelName: string;
  version: number;
}
interface AliasRequest {
  modelName: string;
  alias: string;
}

/** Implementation of mlops.registry.v1.ModelRegistry over the query service. */
export function registryImplementation(queries: Queries): UntypedServiceImplementation {
  return {
    GetModelVersion: unary('GetModelVersion', async (request: VersionRequest) =>
      toProtoVersion(await queries.getVersion(request.modelName, request.version)),
    ),
    ResolveAlias: unary('ResolveAlias', async (request: AliasRequest) =>
      toProtoVersion(await queries.resolveAlias(request.modelName, request.alias)),
    ),
    ListModelVersions: unary('ListModelVersions', async (request: { modelName: string }) => ({
      versions: (await queries.listVersions(request.modelName)).map(toProtoVersion),
    })),
    ListAliasHistory: unary('ListAliasHistory', async (request: AliasRequest) => ({
      moves: (await queries.aliasHistory(request.modelName, request.alias)).map(toProtoMove),
    })),
  };
}

/** Adds ModelRegistry to the app's gRPC server (which starts after bootstrap). */
@Injectable()
export class ModelRegistryGrpc implements OnModuleInit {
  constructor(
    private readonly grpc: GrpcServer,
    private readonly queries: ModelQueriesService,
  ) {}

  onModuleInit(): void {
    this.grpc.addService(MODEL_REGISTRY_SERVICE, loadRegistryService(), registryImplementation(this.queries));
  }
}
