import { type PlatformConfig, platformConfigProblems } from '@keel/config';
import { type z } from 'zod';
import { services as localServices } from '../services/services';
import { type KubeObject } from './kube-check';

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  startupProbe?: { httpGet?: { path: string } };
}

interface Deployment extends KubeObject {
  spec: { template: { spec: { containers: Container[] } } };
}

const find = (objects: readonly KubeObject[], kind: string, name: string) =>
  objects.find((object) => object.kind === kind && object.metadata.name === name);

/** A container's environment as the pod would see it: envFrom ConfigMaps and Secrets first, then `env`. */
function containerEnv(objects: readonly KubeObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      Object.assign(env, (find(objects, 'ConfigMap', source.configMapRef.name) as { data?: object })?.data);
    }
    if (source.secretRef) {
      const secret = find(objects, 'Secret', source.secretRef.name) as
        { stringData?: Record<string, string>; data?: Record<string, string> } | undefined;
      const decoded = Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]);
      Object.assign(env, Object.fromEntries(decoded), secret?.stringData);
    }
  }
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? '';
  return env;
}

/**
 * What is wrong with the rendered Deployments of Keel's services against the apps themselves: a variable the app's
 * config schema does not declare, a value it refuses, ports that disagree with the config, probes that are not
 * `/health/live` (liveness, startup) and `/health/ready` (readiness), a loopback address, a missing Service.
 * Empty when all is well; each problem names the service.
 */
export function serviceDeploymentProblems(
  objects: readonly KubeObject[],
  schemas: Record<string, z.ZodObject>,
): string[] {
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    const report = (problem: string) => problems.push(`${name}: ${problem}`);
    const deployment = find(objects, 'Deployment', name) as Deployment | undefined;
    const container = deployment?.spec.template.spec.containers.find((c) => c.name === name);
    if (!container) {
      report('no Deployment with a container of that name');
      continue;
    }
    if (!find(objects, 'Service', name)) report('no Service');
    const env = containerEnv(objects, container);
    for (const variable of Object.keys(env)) {
      if (!(variable in schema.shape)) report(`sets ${variable}, which its config schema does not declare`);
    }
    const parsed = schema.safeParse(env);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) report(`${issue.path.join('.')}: ${issue.message}`);
      continue;
    }
    const config = parsed.data as PlatformConfig & { HTTP_PORT: number; GRPC_PORT?: number };
    for (const { variable, problem } of platformConfigProblems(config)) report(`${variable}: ${problem}`);
    const local = localServices.find((s) => s.name === name);
    if (config.HTTP_PORT !== local?.httpPort) report(`HTTP_PORT ${config.HTTP_PORT} is not ${local?.httpPort}`);
    const localGrpc = local && 'grpcPort' in local ? local.grpcPort : undefined;
    if (config.GRPC_PORT !== localGrpc) report(`GRPC_PORT ${config.GRPC_PORT} is not ${localGrpc}`);
    const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    if (ports.http !== config.HTTP_PORT) report(`container port http ${ports.http} is not HTTP_PORT`);
    if (ports.grpc !== config.GRPC_PORT) report(`container port grpc ${ports.grpc} is not GRPC_PORT`);
    // Liveness never depends on a dependency (an outage must not restart every pod); readiness does.
    if (container.readinessProbe?.httpGet?.path !== '/health/ready') report('readiness probe is not /health/ready');
    if (container.livenessProbe?.httpGet?.path !== '/health/live') report('liveness probe is not /health/live');
    if (container.startupProbe?.httpGet?.path !== '/health/live') report('startup probe is not /health/live');
    for (const [variable, value] of Object.entries(config as Record<string, unknown>)) {
      if (typeof value === 'string' && /127\.0\.0\.1|localhost/.test(value)) {
        report(`${variable} is a loopback address (${value}): inside a pod that is the pod itself`);
      }
    }
  }
  return problems;
}
