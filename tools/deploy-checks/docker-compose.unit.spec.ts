import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { services as localServices } from '../services/services';
import { serviceSchemas as schemas } from './service-schemas';

interface ComposeService {
  image?: string;
  build?: { args?: Record<string, string> };
  environment?: Record<string, string | number>;
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown>;
}

// YAML merge keys (<<) are part of compose files, so parse with them enabled.
const compose = parse(readFileSync(join(__dirname, '../../docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

const infrastructure = { kafka: 9092, mongodb: 27017, minio: 9000, jaeger: 4318 };
/** Data sources that only ingestion pulls from (the pipeline spec's sources). */
const sources = { postgres: 5432 };

function stringEnv(environment: Record<string, string | number> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, String(value)]));
}

describe('docker-compose.yml', () => {
  it('has the infrastructure with official images and the seven services', () => {
    for (const name of Object.keys(infrastructure)) expect(compose.services[name]?.image).toBeTruthy();
    for (const name of Object.keys(sources)) expect(compose.services[name]?.image).toBeTruthy();
    expect(Object.keys(compose.services).sort()).toEqual(
      [...Object.keys(infrastructure), ...Object.keys(sources), ...Object.keys(schemas)].sort(),
    );
  });

  describe.each(Object.entries(schemas))('%s', (name, schema) => {
    const service = compose.services[name];
    const env = stringEnv(service.environment);

    it('sets only variables its config schema declares, with values the schema accepts', () => {
      const declared = Object.keys(schema.shape);
      expect(Object.keys(env).filter((variable) => !declared.includes(variable))).toEqual([]);
      const parsed = schema.safeParse(env);
      expect(parsed.error?.issues ?? []).toEqual([]);
    });

    it('publishes and health-checks the ports its config and the local tooling use', () => {
      const config = schema.parse(env) as { HTTP_PORT: number; GRPC_PORT?: number };
      const local = localServices.find((s) => s.name === name)!;
      expect(config.HTTP_PORT).toBe(local.httpPort);
      expect(config.GRPC_PORT).toBe('grpcPort' in local ? local.grpcPort : undefined);
      expect(service.ports).toContain(`127.0.0.1:${config.HTTP_PORT}:${config.HTTP_PORT}`);
      if (config.GRPC_PORT) expect(service.ports).toContain(`127.0.0.1:${config.GRPC_PORT}:${config.GRPC_PORT}`);
      expect(service.healthcheck?.test.join(' ')).toContain(`:${config.HTTP_PORT}/health/ready'`);
      expect(service.build?.args?.APP).toBe(name);
    });

    it('points at the compose infrastructure by service name and port', () => {
      const config = schema.parse(env) as Record<string, string>;
      expect(config.KAFKA_BROKERS).toBe(`kafka:${infrastructure.kafka}`);
      expect(config.MONGO_URL).toContain(`mongodb:${infrastructure.mongodb}`);
      expect(config.S3_ENDPOINT).toBe(`http://minio:${infrastructure.minio}`);
      expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://jaeger:${infrastructure.jaeger}`);
      expect(Object.keys(service.depends_on ?? {})).toEqual(expect.arrayContaining(Object.keys(infrastructure)));
    });

    it('leaves no loopback default in effect: inside a container 127.0.0.1 is the container itself', () => {
      const config = schema.parse(env) as Record<string, unknown>;
      const loopback = Object.entries(config).filter(
        ([, value]) => typeof value === 'string' && /127\.0\.0\.1|localhost/.test(value),
      );
      expect(loopback).toEqual([]);
    });

    it('uses the same credentials as the MinIO it talks to', () => {
      const minio = stringEnv(compose.services.minio.environment);
      expect(env.S3_ACCESS_KEY).toBe(minio.MINIO_ROOT_USER);
      expect(env.S3_SECRET_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
    });
  });
});
