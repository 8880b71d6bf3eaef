import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { serviceEnvSchema } from '@keel/config';
import { type ServiceUnderTest, startServiceUnderTest } from '@keel/testing';
import { Module } from '@nestjs/common';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loadSync } from '@grpc/proto-loader';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

@Module({})
class EmptyFeature {}

describe('a service on the shared runtime, against the real stack', () => {
  let service: ServiceUnderTest;

  beforeAll(async () => {
    service = await startServiceUnderTest({
      service: 'runtime-test',
      name: 'runtime-test',
      envSchema: serviceEnvSchema({ httpPort: 0, grpcPort: 0 }),
      features: [EmptyFeature],
    });
  });
  afterAll(async () => service?.close());

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
    const client = new definition.grpc.health.v1.Health(service.grpcAddress!, credentials.createInsecure());
    const reply = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: '' }, (error, result) => (error ? reject(error) : resolve(result))),
    );
    client.close();
    expect(reply.status).toBe('SERVING');
  });
});
