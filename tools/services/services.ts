import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { livePid, startDetached, stopProcess, waitFor } from '../stack/processes';
import { repoRoot, runRoot } from '../stack/paths';
import { localPostgresUrl } from '../stack/servers';

/** The seven services and where their first instance listens locally (their config schemas hold the same defaults). */
export const services = [
  { name: 'ingestion', httpPort: 3001 },
  { name: 'validation', httpPort: 3002 },
  { name: 'features', httpPort: 3003 },
  { name: 'training', httpPort: 3004 },
  { name: 'registry', httpPort: 3005, grpcPort: 50051 },
  { name: 'serving', httpPort: 3006, grpcPort: 8001 },
  { name: 'monitoring', httpPort: 3007 },
] as const;

export type ServiceName = (typeof services)[number]['name'];

/** Instance n (0-based) of a service listens on its first instance's ports plus n × this. */
export const INSTANCE_PORT_STEP = 100;
/** The most instances per service these tools start (and look for when stopping). */
export const MAX_INSTANCES = 4;
/**
 * How many instances of every service `startServices` starts when the caller does not say: `KEEL_SERVICE_INSTANCES`
 * (the e2e tier of `npm test` sets 2), else 1.
 */
export function defaultInstanceCount(): number {
  const configured = Number(process.env.KEEL_SERVICE_INSTANCES ?? '1');
  if (!Number.isInteger(configured) || configured < 1 || configured > MAX_INSTANCES) {
    throw new Error(`KEEL_SERVICE_INSTANCES must be an integer from 1 to ${MAX_INSTANCES}`);
  }
  return configured;
}

/** Where instance n (0-based) of the services listens. */
export function instanceEndpoints(instance = 0) {
  const offset = instance * INSTANCE_PORT_STEP;
  return {
    ingestionHttp: `http://127.0.0.1:${3001 + offset}`,
    validationHttp: `http://127.0.0.1:${3002 + offset}`,
    registryHttp: `http://127.0.0.1:${3005 + offset}`,
    registryGrpc: `127.0.0.1:${50051 + offset}`,
    servingGrpc: `127.0.0.1:${8001 + offset}`,
    monitoringHttp: `http://127.0.0.1:${3007 + offset}`,
  };
}

const servicesDir = join(runRoot, 'services');

/** Log and PID files of instance n: `<name>.log` for the first, `<name>-<n+1>.log` for the others. */
function files(name: string, instance = 0) {
  const base = instance === 0 ? name : `${name}-${instance + 1}`;
  return { logFile: join(servicesDir, `${base}.log`), pidFile: join(servicesDir, `${base}.pid`) };
}

function entryPoint(name: string): string {
  return join(repoRoot, 'apps', name, 'src', 'main.ts');
}

/** Stops every instance of the services this tooling started (by recorded PID, checked against the command line). */
export async function stopServices(): Promise<void> {
  await Promise.all(
    services.flatMap(({ name }) =>
      Array.from({ length: MAX_INSTANCES }, async (_, instance) => {
        const { pidFile } = files(name, instance);
        const pid = existsSync(pidFile) ? livePid(pidFile, entryPoint(name)) : undefined;
        if (pid !== undefined) await stopProcess(pid, pidFile);
      }),
    ),
  );
}

/**
 * The environment of instance n: its own ports, and (for n > 0) the registry instance of the same number, so every
 * registry answers someone. Consumer groups are named by the service, so all instances share them; serving's
 * alias-following group is per process by design.
 */
function instanceEnv(service: (typeof services)[number], instance: number): NodeJS.ProcessEnv {
  if (instance === 0) return {};
  const offset = instance * INSTANCE_PORT_STEP;
  return {
    HTTP_PORT: String(service.httpPort + offset),
    ...('grpcPort' in service ? { GRPC_PORT: String(service.grpcPort + offset) } : {}),
    REGISTRY_GRPC_URL: instanceEndpoints(instance).registryGrpc,
  };
}

/**
 * What a service needs of the local stack that its config schema has no default for: ingestion's PostgreSQL sources
 * read POSTGRES_URL (a deployment names its own database), and the local stack provisions one, so the README's
 * PostgreSQL source pulls after `npm start` as docker-compose's does. A POSTGRES_URL already exported wins.
 */
function stackEnv(service: (typeof services)[number]): NodeJS.ProcessEnv {
  return service.name === 'ingestion' && process.env.POSTGRES_URL === undefined
    ? { POSTGRES_URL: localPostgresUrl }
    : {};
}

function launch(service: (typeof services)[number], env: NodeJS.ProcessEnv, instance = 0): void {
  const { logFile, pidFile } = files(service.name, instance);
  startDetached({
    command: process.execPath,
    args: ['-r', '@swc-node/register', entryPoint(service.name)],
    cwd: repoRoot,
    env: { OTEL_BSP_SCHEDULE_DELAY: '500', ...stackEnv(service), ...env, ...instanceEnv(service, instance) },
    logFile,
    pidFile,
  });
}

function waitHealthy(name: ServiceName, instance = 0, timeoutMs = 120_000): Promise<void> {
  const { httpPort } = services.find((service) => service.name === name)!;
  const { logFile, pidFile } = files(name, instance);
  return waitFor(
    `${name}${instance === 0 ? '' : ` #${instance + 1}`} /health (log: ${logFile})`,
    async () => {
      const pid = livePid(pidFile, entryPoint(name));
      if (pid === undefined) throw new Error(`${name} exited; see ${logFile}`);
      const response = await fetch(`http://127.0.0.1:${httpPort + instance * INSTANCE_PORT_STEP}/health`, {
        signal: AbortSignal.timeout(2_000),
      });
      return response.status === 200;
    },
    timeoutMs,
  );
}

/**
 * (Re)starts every service from the working tree as background processes on Node 24, `instances` of each (default:
 * defaultInstanceCount()), logs under the stack's run directory, and waits until each instance's `/health` answers
 * 200.
 */
export async function startServices(env: NodeJS.ProcessEnv = {}, options: { instances?: number } = {}): Promise<void> {
  const instances = options.instances ?? defaultInstanceCount();
  mkdirSync(servicesDir, { recursive: true });
  await stopServices();
  for (let instance = 0; instance < instances; instance++) {
    for (const service of services) {
      launch(service, env, instance);
      // Staggered: seven cold TypeScript compiles at once on two cores slow every one of them down.
      await sleep(300);
    }
  }
  await Promise.all(
    Array.from({ length: instances }, (_, instance) =>
      services.map(({ name }) => waitHealthy(name, instance, 120_000 * instances)),
    ).flat(),
  );
}

/** Starts one instance of a service that is not running (the chaos tool brings back one it killed) and waits until it is healthy. */
export async function startService(name: ServiceName, env: NodeJS.ProcessEnv = {}, instance = 0): Promise<void> {
  mkdirSync(servicesDir, { recursive: true });
  if (servicePid(name, instance) === undefined)
    launch(
      services.find((service) => service.name === name)!,
      env,
      instance,
    );
  await waitHealthy(name, instance);
}

/** PID of an instance of a service this tooling started from this checkout, if it runs. */
export function servicePid(name: ServiceName, instance = 0): number | undefined {
  const { pidFile } = files(name, instance);
  return existsSync(pidFile) ? livePid(pidFile, entryPoint(name)) : undefined;
}

export function serviceLogFile(name: ServiceName, instance = 0): string {
  return files(name, instance).logFile;
}
