import {
  type handleUnaryCall,
  type Metadata,
  type ServerErrorResponse,
  type ServiceDefinition,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { type AccessControl, type AccessDecision } from './access-control';
import { type Role } from './roles';

/** Which role each method of a gRPC service needs, and which pipeline a call concerns. */
export interface GrpcDoorRules {
  /** By method name as in the service definition (`ModelInfer`); a method left out needs `admin`. */
  methods: Readonly<Record<string, Role | 'public'>>;
  /**
   * The pipeline a unary or server-streaming call concerns, from its request; undefined means every pipeline. Calls
   * that stream requests are checked before the first message, so they need the role on every pipeline.
   */
  pipelineOf?: (method: string, request: unknown) => string | undefined;
}

function refusalError(decision: Extract<AccessDecision, { allowed: false }>): ServerErrorResponse {
  const error = new Error(decision.reason) as ServerErrorResponse;
  error.code = decision.refusal === 'unauthenticated' ? status.UNAUTHENTICATED : status.PERMISSION_DENIED;
  error.details =
    decision.refusal === 'unauthenticated'
      ? `authentication required: ${decision.reason}`
      : `${decision.principal?.id ?? 'caller'} ${decision.reason}`;
  return error;
}

function authorizationOf(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}

type AnyCall = { metadata: Metadata; request?: unknown; emit(event: 'error', error: ServerErrorResponse): boolean };

/**
 * Wraps every handler of a service so that it runs only after the access check passes; a refused unary call answers
 * UNAUTHENTICATED or PERMISSION_DENIED, a refused stream ends with that status. Nothing is wrapped when
 * authentication is off, so the open dev profile pays nothing per call.
 */
export function guardGrpcService(
  serviceName: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  rules: GrpcDoorRules | undefined,
  access: AccessControl,
): UntypedServiceImplementation {
  if (!access.enforcing) return implementation;
  const guarded: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const rule = rules?.methods[method] ?? 'admin';
    if (rule === 'public') {
      guarded[method] = handler;
      continue;
    }
    const { requestStream } = definition[method] ?? { requestStream: true };
    const door = `grpc ${serviceName}/${method}`;
    const check = (call: AnyCall) =>
      access.decide({
        door,
        authorization: authorizationOf(call.metadata),
        role: rule,
        pipeline: requestStream ? undefined : rules?.pipelineOf?.(method, call.request),
      });
    guarded[method] = ((call: AnyCall, callback?: Parameters<handleUnaryCall<unknown, unknown>>[1]) => {
      void check(call).then(
        (decision) => {
          if (decision.allowed) return (handler as (...args: unknown[]) => unknown)(call, callback);
          const error = refusalError(decision);
          if (callback) callback(error);
          else call.emit('error', error);
        },
        (error: unknown) => {
          const failure = Object.assign(new Error('access check failed'), {
            code: status.UNAVAILABLE,
            details: `access check failed: ${error instanceof Error ? error.message : String(error)}`,
          }) as ServerErrorResponse;
          if (callback) callback(failure);
          else call.emit('error', failure);
        },
      );
    }) as UntypedHandleCall;
  }
  return guarded;
}
