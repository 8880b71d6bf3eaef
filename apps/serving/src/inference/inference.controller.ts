import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Metadata, type sendUnaryData, type ServerUnaryCall, status } from '@grpc/grpc-js';
import { type FastGRPCInferenceServiceServer, FastGRPCInferenceServiceService } from '@keel/grpc-api';
import { GrpcServer, ROOT_LOGGER, SERVICE_CONFIG, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { LoadShedError } from './admission';
import { abandonedCall } from './call-deadline';
import { OnlineViewOverLimitError } from '../online/online-views';
import { grpcStatusOf } from './inference-errors';
import { InferenceMetrics } from './inference-metrics';
import { tracedUnary } from './inference-tracing';
import { InferenceService, SERVER_NAME } from './inference.service';

export const INFERENCE_SERVICE_NAME = 'inference.GRPCInferenceService';

/**
 * Thin gRPC adapter: decode the call, delegate to InferenceService, map errors to status codes; calls already
 * cancelled or past their deadline when their turn comes are answered so without doing the work.
 */
@Injectable()
export class InferenceController implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    private readonly grpc: GrpcServer,
    private readonly inference: InferenceService,
    private readonly metrics: InferenceMetrics,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<ServingConfig, 'SERVING_TRACE_SAMPLE_RATIO'>,
  ) {
    this.logger = rootLogger.child({ component: 'inference' });
  }

  onModuleInit(): void {
    const implementation: FastGRPCInferenceServiceServer = {
      serverLive: this.unary(() => ({ live: true })),
      serverReady: this.unary(() => ({ ready: this.inference.isServerReady() })),
      modelReady: this.unary((request) => ({ ready: this.inference.isModelReady(request.name, request.version) })),
      serverMetadata: this.unary(() => ({ name: SERVER_NAME, version: this.identity.version, extensions: [] })),
      modelMetadata: this.unary((request) => this.inference.metadata(request.name, request.version)),
      // Its server span is serving's own (tracedUnary): sampled before any span exists, lighter than the instrumentation's.
      modelInfer: tracedUnary(
        this.unary((request) => this.inference.infer(request)),
        { sampleRatio: this.config.SERVING_TRACE_SAMPLE_RATIO },
      ),
    };
    // ModelInfer requests are decoded straight into typed values (decodeModelInferRequest), not by ts-proto.
    this.grpc.addService(INFERENCE_SERVICE_NAME, FastGRPCInferenceServiceService, implementation, {
      // Liveness and readiness stay open for probes and load balancers; everything about models needs `inference`.
      methods: {
        serverLive: 'public',
        serverReady: 'public',
        serverMetadata: 'inference',
        modelReady: 'inference',
        modelMetadata: 'inference',
        modelInfer: 'inference',
      },
      // A model's name is its pipeline's id.
      pipelineOf: (_method, request) => {
        const { name, modelName } = request as { name?: string; modelName?: string };
        return modelName ?? name;
      },
    });
  }

  private unary<Request, Response>(handle: (request: Request) => Response | Promise<Response>) {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
      const answer = (error: unknown) => {
        const code = grpcStatusOf(error);
        if (code === status.INTERNAL) this.logger.error({ err: error }, 'inference call failed');
        const details = code === status.INTERNAL ? 'internal error' : (error as Error).message;
        const retry = pushbackOf(error);
        callback({ code, details, ...(retry ? { metadata: retry } : {}) });
      };
      // A call whose client gave up or whose deadline passed while it queued is not worth the work any more.
      const abandoned = abandonedCall(call);
      if (abandoned) {
        this.metrics.callsAbandoned.inc({ code: status[abandoned.code] });
        return callback(abandoned);
      }
      let response: Response | Promise<Response>;
      try {
        response = handle(call.request);
      } catch (error) {
        return answer(error);
      }
      if (response instanceof Promise) response.then((value) => callback(null, value), answer);
      else callback(null, response);
    };
  }
}

/**
 * The trailer telling gRPC clients with a retry policy when to try again (gRFC A6's server pushback, the gRPC
 * counterpart of REST's Retry-After): a shed call after its delay; a joined view over serving's memory limits never
 * (a negative pushback), as its RESOURCE_EXHAUSTED is the same code as shedding's, which retry policies list, but no
 * retry can help until the limit is raised or the view shrinks.
 */
function pushbackOf(error: unknown): Metadata | undefined {
  let pushbackMs: number;
  if (error instanceof LoadShedError) pushbackMs = error.retryAfterMs;
  else if (error instanceof OnlineViewOverLimitError) pushbackMs = -1;
  else return undefined;
  const metadata = new Metadata();
  metadata.set('grpc-retry-pushback-ms', String(pushbackMs));
  return metadata;
}
