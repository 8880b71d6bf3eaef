import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { serviceEnvSchema } from '@keel/config';
import { type Telemetry } from '@keel/telemetry';
import { Module } from '@nestjs/common';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loadSync } from '@grpc/proto-loader';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from './run-service';

const noTelemetry: Telemetry = { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined };

@Module({})
class EmptyFeature {}

describe('a service on the shared runtime, against the real stack', () => {
  let service: RunningService;

  beforeAll(async () => {
    service = await startService({
      name: 'runtime-test',
      envSchema: serviceEnvSchema({ httpPort: 0, grpcPort: 0 }),
      features: [EmptyFeature],
      telemetry: noTelemetry,
      env: { ...process.env, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent' },
    });
  });
  afterAll(async () => service?.stop());

  it('answers /health with every dependency up', async () => {
    const response = await request(service.app.getHttpServer()).get('/health').expect(200);
    expect(response.body).toMatchObject({
      service: 'runtime-test',
      status: 'ok',
      checks: { kafka: { status: 'up' }, mongodb: { status: 'up' }, 'object-storage': { status: 'up' } },
    });
  });

  it('exposes Prometheus metrics, including the requests it served', async () => {
    await request(service.app.getHttpServer()).get('/health');
    const response = await request(service.app.getHttpServer()).get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/text\/plain/);
    expect(response.text).toMatch(
      /keel_http_requests_total\{method="GET",route="\/health",status="200",service="runtime-test"\}/,
    );
    expect(response.text).toMatch(/keel_process_resident_memory_bytes/);
  });

  it('serves grpc.health.v1.Health as SERVING', async () => {
    const definition = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (address: string, creds: unknown) => HealthClient } } };
    };
    type HealthClient = {
      check(request: { service: string }, callback: (error: Error | null, reply: { status: string }) => void): void;
      close(): void;
    };
    const client = new definition.grpc.health.v1.Health(`127.0.0.1:${service.grpcPort}`, credentials.createInsecure());
    const reply = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: '' }, (error, result) => (error ? reject(error) : resolve(result))),
    );
    client.close();
    expect(reply.status).toBe('SERVING');
  });
});
