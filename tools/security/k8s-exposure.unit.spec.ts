/**
 * What the Kubernetes manifests expose: a default-deny NetworkPolicy with only the flows the services need, and each
 * service's own Secrets (object-store user, API key digests, its own key for the registry) rather than a shared one.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/paths';
import { type KubeObject, type RenderedKustomization, renderKustomizations } from '../deploy-checks/kube-check';
import { serviceSchemas } from '../deploy-checks/service-schemas';
import { minioUserOf } from '../stack/secure';
import { SECURE_SERVICES, type SecureService } from '../stack/secure-access';

const services = Object.keys(serviceSchemas);
const BUILD_TIMEOUT_MS = 900_000;

type Policy = KubeObject & {
  spec: {
    podSelector: { matchLabels?: Record<string, string>; matchExpressions?: { values: string[] }[] };
    policyTypes: string[];
    ingress?: { from?: unknown[]; ports?: { port: number | string }[] }[];
    egress?: { to?: unknown[]; ports?: { port: number | string }[] }[];
  };
};
type Deployment = KubeObject & {
  spec: {
    template: {
      spec: {
        containers: {
          envFrom?: { secretRef?: { name: string } }[];
          env?: { name: string; value?: string }[];
          volumeMounts?: { name: string; mountPath: string }[];
        }[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
};

describe.each(['staging', 'production'])('deploy/k8s/overlays/%s exposure', (environment) => {
  let rendered: RenderedKustomization;
  beforeAll(async () => {
    [rendered] = await renderKustomizations([join(repoRoot, 'deploy/k8s/overlays', environment)]);
  }, BUILD_TIMEOUT_MS);

  it('denies every flow by default and opens only DNS, HTTPS, the infrastructure, the APIs and the registry to its callers', () => {
    expect(rendered.problems).toEqual([]);
    const policies = rendered.objects.filter((o) => o.kind === 'NetworkPolicy') as Policy[];
    const byName = new Map(policies.map((p) => [p.metadata.name, p.spec]));
    expect(byName.get('default-deny')).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const egressPorts = byName
      .get('allow-dns-and-infrastructure')!
      .egress!.flatMap((rule) => rule.ports!.map((p) => p.port));
    expect(egressPorts.sort()).toEqual([27017, 443, 4318, 53, 53, 9000, 9092].sort());
    const registryIn = byName.get('allow-registry-grpc-from-serving-and-monitoring')!;
    expect(registryIn.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'registry' });
    expect(JSON.stringify(registryIn.ingress)).toContain('"values":["serving","monitoring"]');
    // No rule opens egress to anything else, and only serving exposes gRPC to all.
    for (const policy of policies) {
      for (const rule of policy.spec.egress ?? []) expect(rule.ports?.length ?? 0).toBeGreaterThan(0);
    }
    expect(byName.get('allow-inference-grpc')!.podSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'serving',
    });
  });

  it('gives every service its own object-store, Kafka and database users and the API key digests, and serving and monitoring their own key', () => {
    const deployments = rendered.objects.filter((o) => o.kind === 'Deployment') as Deployment[];
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...services].sort());
    // The prod profile: a service missing any of these credentials refuses to start rather than run open.
    const sharedEnv = rendered.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('keel-env')) as
      (KubeObject & { data?: Record<string, string> }) | undefined;
    expect(sharedEnv?.data?.KEEL_PROFILE).toBe('prod');
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const [container] = deployment.spec.template.spec.containers;
      const secrets = (container.envFrom ?? []).flatMap((source) => (source.secretRef ? [source.secretRef.name] : []));
      expect(secrets, name).toEqual([`keel-${name}-s3`]);
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
      expect(env.AUTH_API_KEYS_FILE, name).toBe('/etc/keel/auth/api-keys.json');
      const volumes = Object.fromEntries(
        (deployment.spec.template.spec.volumes ?? []).map((v) => [v.name, v.secret?.secretName]),
      );
      expect(volumes['api-keys'], name).toBe('keel-api-keys');
      // The same users as the local stack's secure profile, whose broker and object store hold their permissions.
      expect(SECURE_SERVICES, name).toContain(name);
      expect(env.KAFKA_SASL_USERNAME, name).toBe(name);
      expect(env.KAFKA_SASL_PASSWORD_FILE, name).toBe('/etc/keel/kafka/password');
      expect(volumes['kafka-credentials'], name).toBe(`keel-${name}-kafka`);
      // The database user the secure profile's FerretDB creates for the service; the prod profile requires one.
      expect(env.MONGO_USERNAME, name).toBe(minioUserOf(name as SecureService));
      expect(env.MONGO_PASSWORD_FILE, name).toBe('/etc/keel/mongo/password');
      expect(volumes['mongo-credentials'], name).toBe(`keel-${name}-mongo`);
      expect(
        rendered.objects.some((o) => o.kind === 'Secret' && o.metadata.name === `keel-${name}-mongo`),
        name,
      ).toBe(true);
      const s3 = rendered.objects.find((o) => o.kind === 'Secret' && o.metadata.name === `keel-${name}-s3`) as
        (KubeObject & { stringData?: Record<string, string> }) | undefined;
      expect(s3?.stringData?.S3_ACCESS_KEY, name).toBe(minioUserOf(name as SecureService));
      if (name === 'serving' || name === 'monitoring') {
        expect(env.SERVICE_API_KEY_FILE, name).toBe('/etc/keel/service/service.key');
        expect(volumes['service-key'], name).toBe(`keel-${name}-service-key`);
      } else {
        expect(env.SERVICE_API_KEY_FILE, name).toBeUndefined();
      }
    }
  });
});
