import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type PlatformConfig, platformConfigProblems } from '@keel/config';
import { parseAllDocuments } from 'yaml';
import { services as localServices } from '../services/services';
import { serviceSchemas } from './service-schemas';

interface K8sDocument {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    template?: {
      spec: {
        containers: {
          env?: { name: string; value: string }[];
          ports?: { name: string; containerPort: number }[];
          readinessProbe?: { httpGet: { path: string } };
          livenessProbe?: { httpGet: { path: string } };
          startupProbe?: { httpGet: { path: string } };
        }[];
      };
    };
  };
}

const dir = join(__dirname, '../../deploy/k8s');
const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as {
  resources: string[];
};
const documents = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => doc.toJS() as K8sDocument),
);

describe('deploy/k8s', () => {
  const sharedEnv = {
    ...documents.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'keel-env')?.data,
    ...documents.find((d) => d.kind === 'Secret' && d.metadata.name === 'keel-s3')?.stringData,
  };

  it.each(Object.entries(serviceSchemas))(
    '%s: environment parses with its config schema, ports agree',
    (name, schema) => {
      const deployment = documents.find((d) => d.kind === 'Deployment' && d.metadata.name === name);
      const container = deployment?.spec?.template?.spec.containers[0];
      expect(container).toBeDefined();
      const env = { ...sharedEnv, ...Object.fromEntries((container!.env ?? []).map((e) => [e.name, e.value])) };
      expect(Object.keys(env).filter((variable) => !(variable in schema.shape))).toEqual([]);
      const parsed = schema.safeParse(env);
      expect(parsed.error?.issues ?? []).toEqual([]);
      const config = parsed.data as { HTTP_PORT: number; GRPC_PORT?: number };
      const local = localServices.find((s) => s.name === name)!;
      expect(config.HTTP_PORT).toBe(local.httpPort);
      expect(config.GRPC_PORT).toBe('grpcPort' in local ? local.grpcPort : undefined);
      const ports = Object.fromEntries((container!.ports ?? []).map((p) => [p.name, p.containerPort]));
      expect(ports.http).toBe(config.HTTP_PORT);
      expect(ports.grpc).toBe(config.GRPC_PORT);
      // Liveness never depends on a dependency (an outage must not restart every pod); readiness does.
      expect(container!.readinessProbe?.httpGet.path).toBe('/health/ready');
      expect(container!.livenessProbe?.httpGet.path).toBe('/health/live');
      expect(container!.startupProbe?.httpGet.path).toBe('/health/live');
      expect(platformConfigProblems(parsed.data as PlatformConfig)).toEqual([]);
      const loopback = Object.entries(parsed.data as Record<string, unknown>).filter(
        ([, value]) => typeof value === 'string' && /127\.0\.0\.1|localhost/.test(value),
      );
      expect(loopback).toEqual([]);
      expect(documents.some((d) => d.kind === 'Service' && d.metadata.name === name)).toBe(true);
    },
  );
});
