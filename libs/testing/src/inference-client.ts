import { type ClientOptions, type ClientUnaryCall, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { type PipelineSpecV1, type Scalar } from '@keel/contracts';
import {
  type DeepPartial,
  GRPCInferenceServiceClient,
  ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  type ModelInferResponse,
  ModelMetadataRequest,
  type ModelMetadataResponse,
  ModelReadyRequest,
  type ModelReadyResponse,
  type ServerLiveResponse,
  type ServerMetadataResponse,
  type ServerReadyResponse,
} from '@keel/grpc-api';
import { context, propagation } from '@opentelemetry/api';

/** Where `npm start` serves the Open Inference Protocol. */
export const SERVING_GRPC_ADDRESS = '127.0.0.1:8001';

/** An input tensor as callers write it: absent fields take the protocol's defaults. */
export type InferInput = DeepPartial<ModelInferRequest_InferInputTensor>;

type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/**
 * A client of serving's `inference.GRPCInferenceService` (Open Inference Protocol v2), typed by the generated code;
 * any OIP v2 client works the same. Requests are partial messages; failures reject with the grpc-js ServiceError
 * (`code`, `details`). The caller's trace context travels in each call's metadata, so the caller's trace continues
 * in serving whether or not grpc-js is instrumented in this process. `options` are grpc-js channel options (e.g. a
 * short reconnect backoff for a client that must notice at once when a restarted server is back).
 */
export class InferenceClient {
  private readonly client: GRPCInferenceServiceClient;

  constructor(address: string = SERVING_GRPC_ADDRESS, options: ClientOptions = {}) {
    this.client = new GRPCInferenceServiceClient(address, credentials.createInsecure(), options);
  }

  serverLive(): Promise<ServerLiveResponse> {
    return this.call(this.client.serverLive, {});
  }

  serverReady(): Promise<ServerReadyResponse> {
    return this.call(this.client.serverReady, {});
  }

  serverMetadata(): Promise<ServerMetadataResponse> {
    return this.call(this.client.serverMetadata, {});
  }

  modelReady(request: DeepPartial<ModelReadyRequest>): Promise<ModelReadyResponse> {
    return this.call(this.client.modelReady, ModelReadyRequest.fromPartial(request));
  }

  modelMetadata(request: DeepPartial<ModelMetadataRequest>): Promise<ModelMetadataResponse> {
    return this.call(this.client.modelMetadata, ModelMetadataRequest.fromPartial(request));
  }

  modelInfer(request: DeepPartial<ModelInferRequest>): Promise<ModelInferResponse> {
    return this.call(this.client.modelInfer, ModelInferRequest.fromPartial(request));
  }

  close(): void {
    this.client.close();
  }

  private call<Request, Response>(method: Unary<Request, Response>, request: Request): Promise<Response> {
    const metadata = new Metadata();
    propagation.inject(context.active(), metadata, { set: (carrier, key, value) => carrier.set(key, value) });
    return new Promise((resolve, reject) =>
      method.call(this.client, request, metadata, (error, response) => (error ? reject(error) : resolve(response))),
    );
  }
}

/** One tensor per raw feature column: FP64 for numeric features (NaN if missing), BYTES for categorical ones. */
export function columnTensors(spec: PipelineSpecV1, rows: readonly Record<string, Scalar>[]): InferInput[] {
  return spec.features.map((feature) => {
    const values = rows.map((row) => row[feature.name] ?? null);
    return feature.type === 'numeric'
      ? {
          name: feature.name,
          datatype: 'FP64',
          shape: [rows.length],
          contents: { fp64Contents: values.map((v) => (v === null ? NaN : Number(v))) },
        }
      : {
          name: feature.name,
          datatype: 'BYTES',
          shape: [rows.length],
          contents: { bytesContents: values.map((v) => Buffer.from(v === null ? '' : String(v))) },
        };
  });
}
