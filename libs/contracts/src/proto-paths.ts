import { join } from 'node:path';

/** Root of the repository's `proto/` folder, the only home of `.proto` files; load with @grpc/proto-loader. */
export const PROTO_ROOT = join(__dirname, '..', '..', '..', 'proto');

/** The Open Inference Protocol v2 (`inference.GRPCInferenceService`). */
export const INFERENCE_PROTO = join(PROTO_ROOT, 'inference', 'grpc_predict_v2.proto');

/** The model registry (`mlops.registry.v1.ModelRegistry`). */
export const REGISTRY_PROTO = join(PROTO_ROOT, 'mlops', 'registry', 'v1', 'registry.proto');
