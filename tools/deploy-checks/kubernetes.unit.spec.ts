import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/paths';
import { type KubeObject, type RenderedKustomization, renderKustomizations } from './kube-check';
import { serviceDeploymentProblems } from './kubernetes-env';
import { serviceSchemas } from './service-schemas';

const overlays = {
  staging: join(repoRoot, 'deploy/k8s/overlays/staging'),
  production: join(repoRoot, 'deploy/k8s/overlays/production'),
};
const serviceNames = Object.keys(serviceSchemas);
// A cold Go build of k8s.io/api and kustomize takes minutes on two cores; afterwards the binary comes from the cache.
const BUILD_TIMEOUT_MS = 900_000;

const objectsOf = (rendered: RenderedKustomization, kind: string) =>
  rendered.objects.filter((object) => object.kind === kind);

/** A throwaway overlay on top of a real one, to prove the checks catch a mistake. */
function overlayOf(base: string, kustomization: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'keel-overlay-'));
  // Kustomize takes bases by relative path only.
  writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ${relative(dir, base)}\n${kustomization}`);
  return dir;
}

describe('deploy/k8s overlays, rendered and decoded strictly against the Kubernetes API types', () => {
  let staging: RenderedKustomization;
  let production: RenderedKustomization;
  const scratch: string[] = [];

  beforeAll(async () => {
    [staging, production] = await renderKustomizations([overlays.staging, overlays.production]);
  }, BUILD_TIMEOUT_MS);
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['staging', 'production'] as const)('%s: decodes with no unknown field, kind or type', (environment) => {
    const rendered = environment === 'staging' ? staging : production;
    expect(rendered.problems).toEqual([]);
    expect(
      objectsOf(rendered, 'Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual([...serviceNames].sort());
  });

  it.each(['staging', 'production'] as const)(
    '%s: every service environment parses with its config schema; ports and probes agree',
    (environment) => {
      const rendered = environment === 'staging' ? staging : production;
      expect(serviceDeploymentProblems(rendered.objects, serviceSchemas)).toEqual([]);
    },
  );

  it('puts each environment in its own namespace with its own infrastructure', () => {
    const namespaces = (rendered: RenderedKustomization) =>
      new Set(rendered.objects.map((o) => (o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace)));
    expect([...namespaces(staging)]).toEqual(['keel-staging']);
    expect([...namespaces(production)]).toEqual(['keel']);
    const env = (rendered: RenderedKustomization) =>
      (objectsOf(rendered, 'ConfigMap')[0] as KubeObject & { data: Record<string, string> }).data;
    expect(env(staging).KAFKA_BROKERS).toContain('keel-staging-infra');
    expect(env(production).KAFKA_BROKERS).toContain('.keel-infra.');
    for (const rendered of [staging, production]) {
      for (const object of rendered.objects) {
        expect(object.metadata.labels?.['keel.dev/environment']).toBe(rendered === staging ? 'staging' : 'production');
      }
    }
  });

  it('runs production with two or more replicas, a disruption budget per service and serving autoscaled', () => {
    const replicas = (rendered: RenderedKustomization) =>
      Object.fromEntries(
        objectsOf(rendered, 'Deployment').map((d) => [
          d.metadata.name,
          (d as unknown as { spec: { replicas: number } }).spec.replicas,
        ]),
      );
    for (const [name, count] of Object.entries(replicas(production))) expect(count, name).toBeGreaterThanOrEqual(2);
    for (const [name, count] of Object.entries(replicas(staging))) expect(count, name).toBe(1);

    const budgets = objectsOf(production, 'PodDisruptionBudget') as (KubeObject & {
      spec: { selector: { matchLabels: Record<string, string> } };
    })[];
    expect(budgets.map((b) => b.spec.selector.matchLabels['app.kubernetes.io/name']).sort()).toEqual(
      [...serviceNames].sort(),
    );
    expect(objectsOf(staging, 'PodDisruptionBudget')).toEqual([]);

    type Autoscaler = KubeObject & {
      spec: { scaleTargetRef: { name: string }; minReplicas: number; maxReplicas: number };
    };
    const [productionHpa] = objectsOf(production, 'HorizontalPodAutoscaler') as Autoscaler[];
    const [stagingHpa] = objectsOf(staging, 'HorizontalPodAutoscaler') as Autoscaler[];
    expect(productionHpa.spec).toMatchObject({ scaleTargetRef: { name: 'serving' }, minReplicas: 3 });
    expect(productionHpa.spec.minReplicas).toBe(replicas(production).serving);
    expect(stagingHpa.spec).toMatchObject({ scaleTargetRef: { name: 'serving' }, minReplicas: 1, maxReplicas: 2 });
  });

  it('fails on a misspelled Kubernetes field', async () => {
    const dir = overlayOf(
      overlays.production,
      [
        'patches:',
        '  - target: { kind: Deployment, name: serving }',
        '    patch: |-',
        '      - op: add',
        '        path: /spec/template/spec/containers/0/readinesProbe',
        '        value: { httpGet: { path: /health/ready, port: http } }',
        '',
      ].join('\n'),
    );
    scratch.push(dir);
    const [rendered] = await renderKustomizations([dir]);
    expect(rendered.problems).toEqual([expect.stringMatching(/Deployment.*serving.*unknown field.*readinesProbe/)]);
  });

  it('fails on an environment variable the app does not declare', async () => {
    const dir = overlayOf(
      overlays.staging,
      [
        'patches:',
        '  - target: { kind: Deployment, name: serving }',
        '    patch: |-',
        '      - op: add',
        '        path: /spec/template/spec/containers/0/env/-',
        "        value: { name: SERVING_TURBO_MODE, value: 'true' }",
        '',
      ].join('\n'),
    );
    scratch.push(dir);
    const [rendered] = await renderKustomizations([dir]);
    expect(rendered.problems).toEqual([]);
    expect(serviceDeploymentProblems(rendered.objects, serviceSchemas)).toEqual([
      'serving: sets SERVING_TURBO_MODE, which its config schema does not declare',
    ]);
  });
});
