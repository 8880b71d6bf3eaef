/**
 * TypeScript messages, @grpc/grpc-js clients and server definitions generated from `proto/` by ts-proto
 * (`npm run proto:generate`; never edit `generated/`, a unit test fails when it is stale). Field names are
 * camelCase, int64 are numbers, bytes are Uint8Array views of the received buffer; the wire format is the proto's.
 */
export {
  type DeepPartial,
  GRPCInferenceServiceClient,
  type GRPCInferenceServiceServer,
  GRPCInferenceServiceService,
  InferParameter,
  InferTensorContents,
  ModelInferRequest,
  ModelInferRequest_InferInputTensor,
  ModelInferRequest_InferRequestedOutputTensor,
  ModelInferResponse,
  ModelInferResponse_InferOutputTensor,
  ModelMetadataRequest,
  ModelMetadataResponse,
  ModelMetadataResponse_TensorMetadata,
  ModelReadyRequest,
  ModelReadyResponse,
  ServerLiveRequest,
  ServerLiveResponse,
  ServerMetadataRequest,
  ServerMetadataResponse,
  ServerReadyRequest,
  ServerReadyResponse,
} from './generated/inference/grpc_predict_v2.pb';
export {
  type DecodedInferInputTensor,
  type DecodedModelInferRequest,
  type DecodedTensorContents,
  decodeModelInferRequest,
  type FastGRPCInferenceServiceServer,
  FastGRPCInferenceServiceService,
} from './infer-request-decoder';
export { encodeModelInferResponse } from './infer-response-encoder';
export {
  AliasMove,
  AnsweredVersion,
  ControlRolloutRequest,
  GateResult,
  GetRolloutRequest,
  GetModelVersionRequest,
  Lineage,
  ListAliasHistoryRequest,
  ListAliasHistoryResponse,
  ListModelVersionsRequest,
  ListModelVersionsResponse,
  ModelRegistryClient,
  type ModelRegistryServer,
  ModelRegistryService,
  ModelVersion,
  ResolveAliasRequest,
  Rollout,
  SetAliasRequest,
  StartRolloutRequest,
  WhichVersionAnsweredRequest,
  WhichVersionAnsweredResponse,
} from './generated/mlops/registry/v1/registry.pb';
