import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { serviceEnvSchema } from '@keel/config';
import { DatasetIngestedV1 } from '@keel/contracts';
import { type ServiceUnderTest, startServiceUnderTest } from '@keel/testing';
import { Injectable, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthRegistry } from './health/health-registry';
import { Infrastructure } from './infrastructure/infrastructure';

@Module({})
class EmptyFeature {}

/** A feature with one consumer, as apps have, so readiness covers it. */
@Injectable()
class ProbeConsumer implements OnApplicationBootstrap {
  constructor(private readonly infra: Infrastructure) {}
  async onApplicationBootstrap(): Promise<void> {
    await this.infra
      .createConsumer('probe', { fromBeginning: false })
      .on(DatasetIngestedV1, async () => undefined)
      .start();
  }
}

@Module({ providers: [ProbeConsumer] })
class ConsumingFeature {}

type HealthClient = {
  check(request: { service: string }, callback: (error: Error | null, reply: { status: string }) => void): void;
  close(): void;
};

async function grpcHealth(address: string): Promise<string> {
  const definition = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, creds: unknown) => HealthClient } } };
  };
  const client = new definition.grpc.health.v1.Health(address, credentials.createInsecure());
  try {
    const reply = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: '' }, (error, result) => (error ? reject(error) : resolve(result))),
    );
    return reply.status;
  } finally {
    client.close();
  }
}

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

  it('answers /health (readiness) with every dependency up', async () => {
    const response = await request(service.app.getHttpServer()).get('/health').expect(200);
    expect(response.body).toMatchObject({
      service: 'runtime-test',
      status: 'ok',
      lifecycle: 'running',
      checks: { kafka: { status: 'up' }, mongodb: { status: 'up' }, 'object-storage': { status: 'up' } },
    });
  });

  it('answers /health/live with the event-loop delay and no dependency checks', async () => {
    const response = await request(service.app.getHttpServer()).get('/health/live').expect(200);
    expect(response.body).toMatchObject({ service: 'runtime-test', status: 'ok', lifecycle: 'running' });
    expect(response.body.eventLoopDelayMs).toMatchObject({ p99: expect.any(Number), max: expect.any(Number) });
    expect(response.body.checks).toBeUndefined();
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
    expect(await grpcHealth(service.grpcAddress!)).toBe('SERVING');
  });
});

describe('readiness and liveness through a service life, against the real stack', () => {
  let service: ServiceUnderTest;

  beforeAll(async () => {
    service = await startServiceUnderTest({
      service: 'runtime-life',
      envSchema: serviceEnvSchema({ httpPort: 0, grpcPort: 0 }),
      features: [ConsumingFeature],
      consumers: { probe: [DatasetIngestedV1] },
    });
  });
  afterAll(async () => service?.close());

  it('counts every consumer in readiness', async () => {
    const response = await request(service.app.getHttpServer()).get('/health/ready').expect(200);
    expect(response.body.checks[`consumer ${service.consumerGroup('probe')}`]).toMatchObject({ status: 'up' });
  });

  it('when shutdown begins, then readiness and gRPC health go down at once while liveness stays up', async () => {
    service.app.get(HealthRegistry).beginShutdown();
    const ready = await request(service.app.getHttpServer()).get('/health/ready').expect(503);
    expect(ready.body).toMatchObject({ status: 'error', lifecycle: 'shutting-down' });
    await request(service.app.getHttpServer()).get('/health').expect(503);
    await request(service.app.getHttpServer()).get('/health/live').expect(200);
    expect(await grpcHealth(service.grpcAddress!)).toBe('NOT_SERVING');
  });

  it('when the runtime declares the process failed, then liveness goes down', async () => {
    service.app.get(HealthRegistry).markFatal('consumer probe failed: not back in time');
    const live = await request(service.app.getHttpServer()).get('/health/live').expect(503);
    expect(live.body).toMatchObject({ status: 'error', fatal: 'consumer probe failed: not back in time' });
  });

  it('stops gracefully: its consumers stop and leave their group', async () => {
    await service.close();
    const consumerCheck = service.app.get(HealthRegistry);
    const report = await consumerCheck.readiness();
    expect(report.checks[`consumer ${service.consumerGroup('probe')}`]).toMatchObject({
      status: 'down',
      error: 'stopped',
    });
  });
});
