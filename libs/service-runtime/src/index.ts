export { AccessControl, type AccessDecision, type DoorCall } from './auth/access-control';
export { type ApiKeyEntry, ApiKeys, digestApiKey, issueApiKey } from './auth/api-keys';
export { PublicDoor, RequiresRole } from './auth/door-rules';
export { serviceAuthorization } from './auth/service-credential';
export { type GrpcDoorRules } from './auth/grpc-access';
export { ANY_PIPELINE, type Grant, parseGrant, type Role, roles } from './auth/roles';
export { GrpcServer, type GrpcServerOptions } from './grpc/grpc-server';
export { grpcChannelCredentials, grpcServerCredentials, type GrpcTlsConfig } from './grpc/tls';
export { answerMalformedRequests, MalformedRequest, tolerantDeserializers } from './grpc/malformed-requests';
export {
  type EventLoopDelay,
  type HealthCheckResult,
  type HealthIndicator,
  HealthRegistry,
  type HealthReport,
  type LifecycleState,
  type LivenessReport,
} from './health/health-registry';
export { Infrastructure } from './infrastructure/infrastructure';
export { ROOT_LOGGER } from './infrastructure/logger.token';
export { createRootLogger } from './logging';
export { MetricsService } from './metrics/metrics.service';
export { type RunningService, runService, type ServiceSpec, startService } from './run-service';
export { ServiceRuntimeModule, type ServiceRuntimeOptions } from './service-runtime.module';
export { SERVICE_CONFIG, SERVICE_IDENTITY, type ServiceIdentity } from './tokens';
