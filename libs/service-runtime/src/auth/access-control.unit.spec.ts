import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { ConfigError, platformConfigProblems, platformEnvSchema } from '@keel/config';
import { Controller, Get, type INestApplication, Module, Param, Put } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthController } from '../health/health.controller';
import { type HealthRegistry } from '../health/health-registry';
import { ROOT_LOGGER } from '../infrastructure/logger.token';
import { MetricsService } from '../metrics/metrics.service';
import { SERVICE_CONFIG, SERVICE_IDENTITY } from '../tokens';
import { AccessControl } from './access-control';
import { ApiKeys, issueApiKey } from './api-keys';
import { PublicDoor, RequiresRole } from './door-rules';
import { guardGrpcService } from './grpc-access';
import { HttpAccessGuard } from './http-access.guard';
import { parseGrant } from './roles';

@Controller('api/v1/pipelines')
class PipelinesDoors {
  @Get()
  list() {
    return { pipelines: [] };
  }

  @Get(':id')
  read(@Param('id') id: string) {
    return { id };
  }

  @Put(':id')
  write(@Param('id') id: string) {
    return { id, written: true };
  }
}

@Controller('api/v1/models')
class ModelDoors {
  @RequiresRole('deployer')
  @Put(':name/aliases/:alias')
  move(@Param('name') name: string) {
    return { name, moved: true };
  }
}

@PublicDoor()
@Controller('health')
class ProbeDoors {
  @Get('live')
  live() {
    return { status: 'ok' };
  }
}

const silent = pino({ level: 'silent' });

async function appWith(env: Record<string, string>): Promise<{ app: INestApplication; url: string }> {
  const config = platformEnvSchema.parse(env);
  @Module({
    controllers: [PipelinesDoors, ModelDoors, ProbeDoors],
    providers: [
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: ROOT_LOGGER, useValue: silent },
      { provide: SERVICE_IDENTITY, useValue: { name: 'doors', version: '0' } },
      MetricsService,
      AccessControl,
      { provide: APP_GUARD, useClass: HttpAccessGuard },
    ],
  })
  class DoorsModule {}
  const app = await NestFactory.create(DoorsModule, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

function keyFile(entries: ReturnType<typeof issueApiKey>['entry'][]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'keel-keys-')), 'keys.json');
  writeFileSync(path, JSON.stringify({ keys: entries }));
  return path;
}

describe('grants', () => {
  it('parse role:pipeline and name what is wrong', () => {
    expect(parseGrant('deployer:adult-income')).toEqual({ role: 'deployer', pipeline: 'adult-income' });
    expect(parseGrant('viewer:*')).toEqual({ role: 'viewer', pipeline: '*' });
    expect(() => parseGrant('root:*')).toThrow(/not a grant/);
    expect(() => parseGrant('viewer:')).toThrow(/not a grant/);
    expect(() => parseGrant('viewer:a b')).toThrow(/not a grant/);
  });

  it('a key file with a bad entry is refused naming the entry', () => {
    const { entry } = issueApiKey('ci', ['engineer:*']);
    expect(() => ApiKeys.fromEntries([entry, { ...entry, id: 'bad', grants: ['owner:*'] }])).toThrow(/keys\.1 \(bad\)/);
  });
});

describe('the prod profile', () => {
  it('refuses to start without authentication, naming the variable', () => {
    const problems = platformConfigProblems(platformEnvSchema.parse({ KEEL_PROFILE: 'prod' }));
    expect(problems.map((p) => p.variable)).toContain('AUTH_API_KEYS_FILE');
  });

  it('needs issuer and audience beside a JWKS', () => {
    const problems = platformConfigProblems(platformEnvSchema.parse({ AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks' }));
    expect(problems.map((p) => p.variable)).toEqual(['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE']);
  });

  it('an unreadable key file is a configuration error naming AUTH_API_KEYS_FILE', () => {
    const config = platformEnvSchema.parse({ AUTH_API_KEYS_FILE: '/nonexistent/keys.json' });
    const metrics = new MetricsService({ name: 'x', version: '0' });
    expect(() => new AccessControl(config, silent, metrics)).toThrow(ConfigError);
    expect(() => new AccessControl(config, silent, metrics)).toThrow(/AUTH_API_KEYS_FILE/);
  });
});

describe('HTTP doors with API keys', () => {
  const engineer = issueApiKey('engineer-adult', ['engineer:adult']);
  const deployer = issueApiKey('deployer-all', ['deployer:*']);
  const inference = issueApiKey('app', ['inference:*']);
  let app: INestApplication;
  let url: string;
  const call = (method: string, path: string, key?: string) =>
    fetch(url + path, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });

  beforeAll(async () => {
    ({ app, url } = await appWith({ AUTH_API_KEYS_FILE: keyFile([engineer.entry, deployer.entry, inference.entry]) }));
  });
  afterAll(async () => app.close());

  it('refuses a call without credentials with 401 and a Bearer challenge', async () => {
    const response = await call('GET', '/api/v1/pipelines/adult');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses an unknown key and a malformed header with 401', async () => {
    expect((await call('GET', '/api/v1/pipelines/adult', 'keel_not-issued-anywhere-000000000000')).status).toBe(401);
    const basic = await fetch(`${url}/api/v1/pipelines/adult`, { headers: { authorization: 'Basic YTpi' } });
    expect(basic.status).toBe(401);
  });

  it('scopes grants to their pipeline and roles to what they include', async () => {
    expect((await call('GET', '/api/v1/pipelines/adult', engineer.key)).status).toBe(200);
    expect((await call('PUT', '/api/v1/pipelines/adult', engineer.key)).status).toBe(200);
    expect((await call('PUT', '/api/v1/pipelines/bike', engineer.key)).status).toBe(403);
    // A listing across pipelines needs the role on every pipeline.
    expect((await call('GET', '/api/v1/pipelines', engineer.key)).status).toBe(403);
    expect((await call('GET', '/api/v1/pipelines', deployer.key)).status).toBe(200);
    // Deployers read and move aliases; engineers do not move them; inference keys only call models.
    expect((await call('PUT', '/api/v1/models/adult/aliases/champion', deployer.key)).status).toBe(200);
    expect((await call('PUT', '/api/v1/models/adult/aliases/champion', engineer.key)).status).toBe(403);
    expect((await call('PUT', '/api/v1/pipelines/adult', deployer.key)).status).toBe(403);
    expect((await call('GET', '/api/v1/pipelines/adult', inference.key)).status).toBe(403);
  });

  it('leaves probes open', async () => {
    expect((await call('GET', '/health/live')).status).toBe(200);
  });

  it('counts every refusal by door', async () => {
    await call('GET', '/api/v1/pipelines/adult');
    const metrics = await app.get(MetricsService).registry.getSingleMetricAsString('keel_auth_denied_total');
    expect(metrics).toMatch(/door="GET \/api\/v1\/pipelines\/:id",refusal="unauthenticated"[^\n]* [1-9]/);
  });
});

describe('HTTP doors in the open dev profile', () => {
  it('lets every call through when no authentication is configured', async () => {
    const { app, url } = await appWith({});
    try {
      expect((await fetch(`${url}/api/v1/pipelines/adult`, { method: 'PUT' })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('HTTP doors with OIDC tokens', () => {
  let jwks: HttpServer;
  let app: INestApplication;
  let url: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const token = (claims: Record<string, unknown>, audience = 'keel', expiresIn = '5m') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://issuer.test')
      .setAudience(audience)
      .setSubject('alice@example.com')
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(privateKey);

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    ({ app, url } = await appWith({
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks`,
      AUTH_JWT_ISSUER: 'https://issuer.test',
      AUTH_JWT_AUDIENCE: 'keel',
    }));
  });
  afterAll(async () => {
    await app.close();
    jwks.close();
  });

  const get = async (path: string, bearer: string) =>
    (await fetch(url + path, { headers: { authorization: `Bearer ${bearer}` } })).status;

  it('accepts a verified token with its grants, as a list or a space-separated string', async () => {
    expect(await get('/api/v1/pipelines/adult', await token({ keel_grants: ['viewer:adult'] }))).toBe(200);
    expect(await get('/api/v1/pipelines/adult', await token({ keel_grants: 'inference:* viewer:adult' }))).toBe(200);
    expect(await get('/api/v1/pipelines/bike', await token({ keel_grants: ['viewer:adult'] }))).toBe(403);
  });

  it('refuses a token for another audience, an expired one and a forged one with 401', async () => {
    expect(await get('/api/v1/pipelines/adult', await token({ keel_grants: ['viewer:*'] }, 'other'))).toBe(401);
    const expired = await token({ keel_grants: ['viewer:*'] }, 'keel', '-1m');
    expect(await get('/api/v1/pipelines/adult', expired)).toBe(401);
    const forged = (await token({ keel_grants: ['viewer:adult'] })).replace(/\.[^.]+$/, '.AAAA');
    expect(await get('/api/v1/pipelines/adult', forged)).toBe(401);
  });
});

describe('gRPC doors', () => {
  const json = {
    serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
    deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
  };
  const unary = (path: string) => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  });
  const definition: ServiceDefinition = {
    modelInfer: unary('/test.Doors/ModelInfer'),
    serverLive: unary('/test.Doors/ServerLive'),
    dropTables: unary('/test.Doors/DropTables'),
  };
  const app = issueApiKey('app', ['inference:adult']);
  let server: Server;
  let client: InstanceType<ReturnType<typeof makeGenericClientConstructor>>;

  beforeAll(async () => {
    const config = platformEnvSchema.parse({ AUTH_API_KEYS_FILE: keyFile([app.entry]) });
    const access = new AccessControl(config, silent, new MetricsService({ name: 'grpc-doors', version: '0' }));
    const answer = (call: { request: unknown }, callback: (error: null, value: unknown) => void) =>
      callback(null, { ok: true, request: call.request });
    server = new Server();
    server.addService(
      definition,
      guardGrpcService(
        'test.Doors',
        definition,
        { modelInfer: answer, serverLive: answer, dropTables: answer },
        {
          methods: { modelInfer: 'inference', serverLive: 'public' },
          pipelineOf: (_method, request) => (request as { modelName?: string }).modelName,
        },
        access,
      ),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = new (makeGenericClientConstructor(definition, 'Doors'))(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  const invoke = (method: string, request: unknown, key?: string) =>
    new Promise<{ code: status; value?: unknown }>((resolve) => {
      const metadata = new Metadata();
      if (key) metadata.set('authorization', `Bearer ${key}`);
      const fn = (
        client as unknown as Record<
          string,
          (request: unknown, metadata: Metadata, callback: (error: ServiceError | null, value: unknown) => void) => void
        >
      )[method].bind(client);
      fn(request, metadata, (error: ServiceError | null, value: unknown) =>
        resolve(error ? { code: error.code } : { code: status.OK, value }),
      );
    });

  it('answers UNAUTHENTICATED without credentials and PERMISSION_DENIED for another pipeline', async () => {
    expect((await invoke('modelInfer', { modelName: 'adult' })).code).toBe(status.UNAUTHENTICATED);
    expect((await invoke('modelInfer', { modelName: 'bike' }, app.key)).code).toBe(status.PERMISSION_DENIED);
    expect(await invoke('modelInfer', { modelName: 'adult' }, app.key)).toEqual({
      code: status.OK,
      value: { ok: true, request: { modelName: 'adult' } },
    });
  });

  it('keeps public methods open and a method without a rule admin-only', async () => {
    expect((await invoke('serverLive', {})).code).toBe(status.OK);
    expect((await invoke('dropTables', {}, app.key)).code).toBe(status.PERMISSION_DENIED);
  });
});

describe('probes where callers must authenticate', () => {
  it('name each check state but not its error text', async () => {
    const enforcing = new AccessControl(
      platformEnvSchema.parse({ AUTH_API_KEYS_FILE: keyFile([issueApiKey('a', ['viewer:*']).entry]) }),
      silent,
      new MetricsService({ name: 'probe', version: '0' }),
    );
    const registry = {
      readiness: async () => ({
        status: 'error' as const,
        lifecycle: 'running' as const,
        checks: {
          mongo: { status: 'down' as const, latencyMs: 3, error: 'connect ECONNREFUSED 10.0.0.7:27017' },
          kafka: { status: 'up' as const, latencyMs: 1 },
        },
      }),
    };
    let body: unknown;
    let code = 0;
    const response = {
      status(value: number) {
        code = value;
        return this;
      },
      json(value: unknown) {
        body = value;
      },
    };
    const controller = new HealthController(
      registry as unknown as HealthRegistry,
      { name: 'probe', version: '0' },
      enforcing,
    );
    await controller.ready(response as unknown as Parameters<HealthController['ready']>[0]);
    expect(code).toBe(503);
    expect(JSON.stringify(body)).not.toContain('10.0.0.7');
    expect(body).toMatchObject({
      checks: { mongo: { status: 'down', error: 'see the service log' }, kafka: { status: 'up' } },
    });
  });
});

describe('the prod profile and credentials', () => {
  it('refuses the dev object-store credentials and anonymous Kafka and database clients, naming each variable', () => {
    const problems = platformConfigProblems(
      platformEnvSchema.parse({ KEEL_PROFILE: 'prod', AUTH_API_KEYS_FILE: '/run/secrets/keys.json' }),
    );
    expect(problems.map((p) => p.variable)).toEqual([
      'KAFKA_SASL_USERNAME',
      'MONGO_USERNAME',
      'S3_ACCESS_KEY',
      'S3_SECRET_KEY',
    ]);
    const real = platformConfigProblems(
      platformEnvSchema.parse({
        KEEL_PROFILE: 'prod',
        AUTH_API_KEYS_FILE: '/run/secrets/keys.json',
        KAFKA_SASL_USERNAME: 'serving',
        KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka-password',
        MONGO_USERNAME: 'keel-serving',
        MONGO_PASSWORD_FILE: '/run/secrets/mongo-password',
        S3_ACCESS_KEY: 'serving-reader',
        S3_SECRET_KEY: 'a-long-generated-secret',
      }),
    );
    expect(real).toEqual([]);
  });
});
