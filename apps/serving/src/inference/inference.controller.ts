import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  loadPackageDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { INFERENCE_PROTO } from '@keel/contracts';
import { GrpcServer, ROOT_LOGGER, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { grpcStatusOf } from './inference-errors';
import { InferenceService } from './inference.service';
import { type ModelInferRequest } from './oip-types';

export const INFERENCE_SERVICE_NAME = 'inference.GRPCInferenceService';

/** Loader options of the protocol: its snake_case field names, int64 as numbers. Clients use the same. */
export const INFERENCE_LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/** The GRPCInferenceService definition from the repository's proto. */
export function loadInferenceService(): ServiceDefinition {
  const root = loadPackageDefinition(loadSync(INFERENCE_PROTO, INFERENCE_LOADER_OPTIONS)) as unknown as {
    inference: { GRPCInferenceService: { service: ServiceDefinition } };
  };
  return root.inference.GRPCInferenceService.service;
}

/** Thin gRPC adapter: decode the call, delegate to InferenceService, map errors to status codes. */
@Injectable()
export class InferenceController implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    private readonly grpc: GrpcServer,
    private readonly inference: InferenceService,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'inference' });
  }

  onModuleInit(): void {
    this.grpc.addService(INFERENCE_SERVICE_NAME, loadInferenceService(), {
      ServerLive: this.unary(() => ({ live: true })),
      ServerReady: this.unary(() => ({ ready: this.inference.isServerReady() })),
      ModelReady: this.unary((request: { name: string; version?: string }) => ({
        ready: this.inference.isModelReady(request.name, request.version),
      })),
      ServerMetadata: this.unary(() => ({ name: 'keel-serving', version: this.identity.version, extensions: [] })),
      ModelMetadata: this.unary((request: { name: string; version?: string }) =>
        this.inference.metadata(request.name, request.version),
      ),
      ModelInfer: this.unary((request: ModelInferRequest) => this.inference.infer(request)),
    });
  }

  private unary<Request, Response>(handle: (request: Request) => Response) {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
      let response: Response;
      try {
        response = handle(call.request);
      } catch (error) {
        const code = grpcStatusOf(error);
        if (code === status.INTERNAL) this.logger.error({ err: error }, 'inference call failed');
        callback({ code, details: code === status.INTERNAL ? 'internal error' : (error as Error).message });
        return;
      }
      callback(null, response);
    };
  }
}
