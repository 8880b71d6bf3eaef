import {
  type sendUnaryData,
  type ServerErrorResponse,
  type ServiceDefinition,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

/**
 * What a request deserializer returns instead of throwing: grpc-js answers a deserializer's exception with INTERNAL,
 * but bytes that are not the method's message are the caller's mistake (INVALID_ARGUMENT), and the reason helps them.
 */
export class MalformedRequest {
  constructor(
    /** `package.Service/Method`. */
    readonly method: string,
    readonly reason: string,
  ) {}

  get details(): string {
    return `the request is not a valid ${this.method} request message: ${this.reason}`;
  }
}

/**
 * The definition with every unary and server-streaming method's request deserializer made total: a message that does
 * not decode becomes a MalformedRequest (answered INVALID_ARGUMENT by `answerMalformedRequests`). Client-streaming
 * methods keep theirs: grpc-js ends such a call itself.
 */
export function tolerantDeserializers(definition: ServiceDefinition): ServiceDefinition {
  const tolerant: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) {
      tolerant[name] = method;
      continue;
    }
    const deserialize = method.requestDeserialize;
    const path = method.path.replace(/^\//, '');
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (error) {
          return new MalformedRequest(path, error instanceof Error ? error.message : String(error));
        }
      },
    };
  }
  return tolerant;
}

/** Longest status message a unary answer carries; longer ones are cut, saying how long they were. */
export const MAX_STATUS_DETAILS = 1_000;

/**
 * The callback with an error's status message cut to MAX_STATUS_DETAILS: a message may echo a request field (a name of
 * megabytes), and grpc-js percent-encodes it into a trailer on the event loop, which HTTP/2 then refuses (the
 * client sees RST_STREAM instead of the status).
 */
function boundedDetails(callback: sendUnaryData<unknown>): sendUnaryData<unknown> {
  return (error, ...rest) => {
    const text = error ? (error.details ?? (error as Partial<Error>).message) : undefined;
    if (!error || text === undefined || text.length <= MAX_STATUS_DETAILS) return callback(error, ...rest);
    const details = `${text.slice(0, MAX_STATUS_DETAILS)}… (${text.length} characters)`;
    return callback(
      Object.assign(new Error(details), { code: error.code, details, metadata: error.metadata }),
      ...rest,
    );
  };
}

type SingleRequestCall = { request: unknown; emit(event: 'error', error: ServerErrorResponse): boolean };

function invalidArgument(malformed: MalformedRequest): ServerErrorResponse {
  return Object.assign(new Error(malformed.details), { code: status.INVALID_ARGUMENT, details: malformed.details });
}

/**
 * Each handler of a single-request method answers a MalformedRequest with INVALID_ARGUMENT before its own code runs,
 * so handlers only ever see decoded messages. One `instanceof` per call.
 */
export function answerMalformedRequests(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): UntypedServiceImplementation {
  const answering: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(implementation)) {
    if (definition[name]?.requestStream !== false) {
      answering[name] = handler;
      continue;
    }
    const handle = handler as (call: SingleRequestCall, callback?: sendUnaryData<unknown>) => void;
    answering[name] = ((call: SingleRequestCall, callback?: sendUnaryData<unknown>) => {
      if (!(call.request instanceof MalformedRequest)) return handle(call, callback && boundedDetails(callback));
      const error = invalidArgument(call.request);
      if (callback) callback(error);
      else call.emit('error', error);
    }) as UntypedHandleCall;
  }
  return answering;
}
