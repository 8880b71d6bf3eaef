import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type FastGRPCInferenceServiceServer } from '@keel/grpc-api';
import { type GrpcServer, type MetricsService, type ServiceIdentity } from '@keel/service-runtime';
import { type Request, type Response } from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { servingEnvSchema } from '../config';
import { OnlineViewOverLimitError } from '../online/online-views';
import { LoadShedError } from './admission';
import { InferenceController } from './inference.controller';
import { InferenceMetrics } from './inference-metrics';
import { type InferenceService } from './inference.service';
import { OipRestController } from './rest/oip-rest.controller';

/** An InferenceService whose every call is shed, as admission control refuses it. */
const shedding = {
  infer: async () => {
    throw new LoadShedError('serving is overloaded', 'saturated', 1_000);
  },
} as unknown as InferenceService;

const identity = { name: 'serving', version: 'test' } as ServiceIdentity;
const logger = pino({ level: 'silent' });

/** What the REST controller wrote to its response. */
function recordingResponse() {
  const written: { status?: number; headers: Record<string, string>; body?: unknown } = { headers: {} };
  const response = {
    status(code: number) {
      written.status = code;
      return response;
    },
    setHeader(name: string, value: string) {
      written.headers[name.toLowerCase()] = value;
      return response;
    },
    json(body: unknown) {
      written.body = body;
      return response;
    },
  };
  return { response: response as unknown as Response, written };
}

/** What a call to `inference` answers over REST. */
async function restAnswer(inference: InferenceService) {
  const controller = new OipRestController(inference, identity, servingEnvSchema.parse({}), logger);
  const { response, written } = recordingResponse();
  const body = { inputs: [{ name: 'age', datatype: 'FP64', shape: [1], data: [39] }] };
  await controller.infer('adult', { body, headers: {} } as unknown as Request, response);
  return written;
}

/** What a call to `inference` answers over gRPC. */
async function grpcAnswer(inference: InferenceService): Promise<Partial<ServiceError>> {
  let implementation: FastGRPCInferenceServiceServer | undefined;
  const grpc = {
    addService: (_name: string, _definition: unknown, handlers: FastGRPCInferenceServiceServer) => {
      implementation = handlers;
    },
  } as unknown as GrpcServer;
  const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
  new InferenceController(grpc, inference, metrics, identity, logger, servingEnvSchema.parse({})).onModuleInit();
  const call = {
    request: { modelName: 'adult' },
    metadata: new Metadata(),
    cancelled: false,
    getDeadline: () => Infinity,
  };
  return new Promise<Partial<ServiceError>>((resolve) =>
    (implementation!.modelInfer as (call: unknown, callback: (error: Partial<ServiceError>) => void) => void)(
      call,
      resolve,
    ),
  );
}

describe('a shed call on each transport', () => {
  it('over REST, then 429 with Retry-After in seconds and the reason in the error body', async () => {
    const written = await restAnswer(shedding);
    expect(written.status).toBe(429);
    expect(written.headers['retry-after']).toBe('1');
    expect(written.body).toEqual({ error: 'serving is overloaded' });
  });

  it('over gRPC, then RESOURCE_EXHAUSTED with a grpc-retry-pushback-ms trailer', async () => {
    const error = await grpcAnswer(shedding);
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toBe('serving is overloaded');
    expect(error.metadata?.get('grpc-retry-pushback-ms')).toEqual(['1000']);
  });
});

describe('a call whose joined view is over a memory limit, on each transport', () => {
  const overLimit = {
    infer: async () => {
      throw new OnlineViewOverLimitError('over SERVING_MAX_ONLINE_ENTITIES', 'SERVING_MAX_ONLINE_ENTITIES');
    },
  } as unknown as InferenceService;

  it('over REST, then 507 without Retry-After', async () => {
    const written = await restAnswer(overLimit);
    expect(written.status).toBe(507);
    expect(written.headers['retry-after']).toBeUndefined();
    expect(written.body).toEqual({ error: 'over SERVING_MAX_ONLINE_ENTITIES' });
  });

  it('over gRPC, then RESOURCE_EXHAUSTED with a negative pushback: retry policies do not retry it', async () => {
    const error = await grpcAnswer(overLimit);
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.metadata?.get('grpc-retry-pushback-ms')).toEqual(['-1']);
  });
});
