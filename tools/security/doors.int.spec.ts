/**
 * Every door of every service, enumerated from what the running apps really serve (Express's routes, the gRPC
 * server's methods), refuses a caller without credentials and a caller without the role; only the probes listed here
 * are public. A new route or RPC is covered without editing this test, and a new public door fails it. The services
 * run with known secrets (API keys, a forged JWT, the object-store secret, the webhook secret), and the run's logs
 * must hold none of them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type serviceEnvSchema } from '@keel/config';
import { credentials, makeGenericClientConstructor, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { GrpcServer, issueApiKey } from '@keel/service-runtime';
import { type ServiceUnderTest, startServiceUnderTest, uniqueName } from '@keel/testing';
import { type Type } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureProcessOutput } from './output-capture';
import { featuresEnvSchema } from '../../apps/features/src/config';
import { FeaturesModule } from '../../apps/features/src/features.module';
import { ingestionEnvSchema } from '../../apps/ingestion/src/config';
import { IngestionModule } from '../../apps/ingestion/src/ingestion.module';
import { monitoringEnvSchema } from '../../apps/monitoring/src/config';
import { MonitoringModule } from '../../apps/monitoring/src/monitoring.module';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { RegistryModule } from '../../apps/registry/src/registry.module';
import { servingEnvSchema } from '../../apps/serving/src/config';
import { ServingModule } from '../../apps/serving/src/serving.module';
import { trainingEnvSchema } from '../../apps/training/src/config';
import { TrainingModule } from '../../apps/training/src/training.module';
import { validationEnvSchema } from '../../apps/validation/src/config';
import { ValidationModule } from '../../apps/validation/src/validation.module';

/** The only doors anyone may call: liveness and readiness, for probes and load balancers. */
const PUBLIC_HTTP = new Set([
  'GET /health',
  'GET /health/live',
  'GET /health/ready',
  'GET /v2/health/live',
  'GET /v2/health/ready',
]);
const PUBLIC_GRPC = new Set([
  '/inference.GRPCInferenceService/ServerLive',
  '/inference.GRPCInferenceService/ServerReady',
]);

const NOT_FOUND_ROUTE = '{/*splat}';
const CALLED_METHODS = ['get', 'post', 'put', 'patch', 'delete'];

interface HttpDoor {
  service: string;
  method: string;
  path: string;
}

function httpDoors(service: string, running: ServiceUnderTest): HttpDoor[] {
  const express = running.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack.flatMap((layer) =>
    // Nest's not-found handler (every method, any path) answers 404 and is no door.
    layer.route && layer.route.path !== NOT_FOUND_ROUTE
      ? Object.keys(layer.route.methods)
          // A route mounted for every method (`@All`) is checked through the methods clients send.
          .flatMap((method) => (method === '_all' || !CALLED_METHODS.includes(method) ? [] : [method]))
          .map((method) => ({ service, method: method.toUpperCase(), path: layer.route!.path }))
      : [],
  );
}

/** A concrete URL for a route pattern: every parameter names a pipeline nobody holds a grant on. */
const concrete = (path: string) =>
  path
    .replace(/\{[^}]*\}/g, '') // optional segments (path-to-regexp's `{/...}`) left out
    .replace(/:\w+/g, 'door-audit')
    .replace(/\*\w*/g, 'x');

describe('every door is guarded', () => {
  const keysDir = mkdtempSync(join(tmpdir(), 'keel-doors-'));
  const admin = issueApiKey('admin', ['admin:*']);
  const outsider = issueApiKey('outsider', ['viewer:unrelated-pipeline', 'engineer:unrelated-pipeline']);
  const keysFile = join(keysDir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ keys: [admin.entry, outsider.entry] }));
  const serviceKeyFile = join(keysDir, 'service.key');
  writeFileSync(serviceKeyFile, admin.key);
  /** Never to be logged: the webhooks' signing secret (monitoring), the object store's, and callers' tokens. */
  const webhookSecret = `whsec-${issueApiKey('w', ['viewer:*']).key}`;
  const stolenKey = issueApiKey('stolen', ['admin:*']).key; // a well-formed key nobody registered
  const forgedJwt = [
    Buffer.from('{"alg":"RS256","typ":"JWT","kid":"k1"}').toString('base64url'),
    Buffer.from('{"sub":"mallory","keel_grants":["admin:*"],"iss":"https://idp.example","aud":"keel"}').toString(
      'base64url',
    ),
    'c2lnbmF0dXJlLW5vdC12YWxpZA',
  ].join('.');
  const s3Secret = process.env.S3_SECRET_KEY ?? 'keeladmin-secret';
  const env = {
    AUTH_API_KEYS_FILE: keysFile,
    SERVICE_API_KEY_FILE: serviceKeyFile,
    // Monitoring signs webhooks with it; nothing listens on the discard port, and no alert fires in this run.
    ALERT_WEBHOOK_URLS: 'http://127.0.0.1:9/keel-door-audit',
    ALERT_WEBHOOK_SECRET: webhookSecret,
    LOG_LEVEL: 'debug',
  };
  const output = captureProcessOutput();
  const database = uniqueName('keel_it_doors');
  const services: [string, ReturnType<typeof serviceEnvSchema>, Type<unknown>][] = [
    ['ingestion', ingestionEnvSchema, IngestionModule],
    ['validation', validationEnvSchema, ValidationModule],
    ['features', featuresEnvSchema, FeaturesModule],
    ['training', trainingEnvSchema, TrainingModule],
    ['registry', registryEnvSchema, RegistryModule],
    ['serving', servingEnvSchema, ServingModule],
    ['monitoring', monitoringEnvSchema, MonitoringModule],
  ];
  const running = new Map<string, ServiceUnderTest>();

  beforeAll(async () => {
    for (const [service, envSchema, feature] of services) {
      // Serving and monitoring call the registry, with the service key.
      const registryUrl =
        service === 'serving' || service === 'monitoring'
          ? { REGISTRY_GRPC_URL: running.get('registry')!.grpcAddress }
          : {};
      running.set(
        service,
        await startServiceUnderTest({
          service,
          envSchema,
          features: [feature],
          database,
          env: { ...env, ...registryUrl },
        }),
      );
    }
  }, 180_000);

  afterAll(async () => {
    for (const service of [...running.values()].reverse()) await service.close();
    output.stop();
  }, 60_000);

  it('HTTP: 401 without credentials, 403 without the role, and never for an admin', async () => {
    const doors = [...running].flatMap(([service, instance]) => httpDoors(service, instance));
    expect(doors.length).toBeGreaterThan(20);
    const unguarded: string[] = [];
    for (const door of doors) {
      const name = `${door.method} ${door.path}`;
      const url = running.get(door.service)!.httpUrl + concrete(door.path);
      const call = (key?: string) =>
        fetch(url, {
          method: door.method,
          headers: key ? { authorization: `Bearer ${key}` } : {},
          signal: AbortSignal.timeout(30_000),
        }).then(async (response) => {
          await response.arrayBuffer();
          return response.status;
        });
      const anonymous = await call();
      if (PUBLIC_HTTP.has(name)) {
        expect(anonymous, `${door.service} ${name} is a probe`).not.toBe(401);
        continue;
      }
      if (anonymous !== 401) unguarded.push(`${door.service} ${name}: ${anonymous} without credentials`);
      const outsiderStatus = await call(outsider.key);
      if (outsiderStatus !== 403) unguarded.push(`${door.service} ${name}: ${outsiderStatus} for an outsider`);
      const adminStatus = await call(admin.key);
      if (adminStatus === 401 || adminStatus === 403)
        unguarded.push(`${door.service} ${name}: ${adminStatus} for admin`);
    }
    expect(unguarded).toEqual([]);
  }, 300_000);

  it('gRPC: UNAUTHENTICATED without credentials, PERMISSION_DENIED without the role', async () => {
    const raw = {
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (value: Buffer) => value,
      responseSerialize: (value: Buffer) => value,
      responseDeserialize: (value: Buffer) => value,
    };
    const unguarded: string[] = [];
    let methods = 0;
    for (const [service, instance] of running) {
      if (!instance.grpcAddress) continue;
      for (const door of instance.app.get(GrpcServer).doors()) {
        methods++;
        // An empty message: the door must answer before the handler could look at it.
        const Client = makeGenericClientConstructor(
          { call: { path: door.path, requestStream: false, responseStream: false, ...raw } },
          'Door',
        );
        const client = new Client(instance.grpcAddress, credentials.createInsecure());
        const call = (key?: string) =>
          new Promise<status>((resolve) => {
            const metadata = new Metadata();
            if (key) metadata.set('authorization', `Bearer ${key}`);
            (
              client as unknown as {
                call: (r: Buffer, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void;
              }
            ).call(Buffer.alloc(0), metadata, { deadline: Date.now() + 30_000 }, (error) =>
              resolve(error ? error.code : status.OK),
            );
          });
        try {
          const anonymous = await call();
          if (PUBLIC_GRPC.has(door.path)) {
            expect(anonymous, `${door.path} is a probe`).not.toBe(status.UNAUTHENTICATED);
            continue;
          }
          if (anonymous !== status.UNAUTHENTICATED)
            unguarded.push(`${service} ${door.path}: ${status[anonymous]} anonymous`);
          const outsiderCode = await call(outsider.key);
          if (outsiderCode !== status.PERMISSION_DENIED) {
            unguarded.push(`${service} ${door.path}: ${status[outsiderCode]} for an outsider`);
          }
          const adminCode = await call(admin.key);
          if (adminCode === status.UNAUTHENTICATED || adminCode === status.PERMISSION_DENIED) {
            unguarded.push(`${service} ${door.path}: ${status[adminCode]} for admin`);
          }
        } finally {
          client.close();
        }
      }
    }
    expect(methods).toBeGreaterThanOrEqual(11);
    expect(unguarded).toEqual([]);
  }, 120_000);

  it('logs no secret: API keys, a forged JWT, the object-store secret, the webhook secret', async () => {
    // Stolen and forged credentials at every service's HTTP and gRPC doors, then a reader's and a writer's calls.
    for (const [, instance] of running) {
      for (const token of [stolenKey, forgedJwt, admin.key, outsider.key]) {
        for (const path of ['/api/v1/pipelines/door-audit', '/metrics']) {
          const response = await fetch(instance.httpUrl + path, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-api-key': token },
            body: JSON.stringify({ token }),
            signal: AbortSignal.timeout(30_000),
          });
          await response.arrayBuffer();
        }
      }
    }
    const logs = output.text();
    expect(logs).toContain('access denied');
    const leaks = Object.entries({
      'the admin key': admin.key,
      'the outsider key': outsider.key,
      'an unregistered key': stolenKey,
      'a forged JWT': forgedJwt,
      'a JWT signature': forgedJwt.split('.')[2],
      'the object-store secret': s3Secret,
      'the webhook secret': webhookSecret,
    }).flatMap(([what, secret]) => (logs.includes(secret) ? [what] : []));
    expect(leaks).toEqual([]);
  }, 120_000);
});
