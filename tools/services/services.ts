import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { livePid, startDetached, stopProcess, waitFor } from '../stack/processes';
import { repoRoot, runRoot } from '../stack/paths';

/** The seven services and where they listen locally (their config schemas hold the same defaults). */
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

const servicesDir = join(runRoot, 'services');

function files(name: string) {
  return { logFile: join(servicesDir, `${name}.log`), pidFile: join(servicesDir, `${name}.pid`) };
}

function entryPoint(name: string): string {
  return join(repoRoot, 'apps', name, 'src', 'main.ts');
}

/** Stops the services this tooling started (by recorded PID, checked against the command line). */
export async function stopServices(): Promise<void> {
  await Promise.all(
    services.map(async ({ name }) => {
      const { pidFile } = files(name);
      const pid = livePid(pidFile, entryPoint(name));
      if (pid !== undefined) await stopProcess(pid, pidFile);
    }),
  );
}

function launch(name: ServiceName, env: NodeJS.ProcessEnv): void {
  const { logFile, pidFile } = files(name);
  startDetached({
    command: process.execPath,
    args: ['-r', '@swc-node/register', entryPoint(name)],
    cwd: repoRoot,
    env: { OTEL_BSP_SCHEDULE_DELAY: '500', ...env },
    logFile,
    pidFile,
  });
}

function waitHealthy(name: ServiceName): Promise<void> {
  const { httpPort } = services.find((service) => service.name === name)!;
  return waitFor(
    `${name} /health (log: ${files(name).logFile})`,
    async () => {
      const pid = livePid(files(name).pidFile, entryPoint(name));
      if (pid === undefined) throw new Error(`${name} exited; see ${files(name).logFile}`);
      const response = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(2_000) });
      return response.status === 200;
    },
    120_000,
  );
}

/**
 * (Re)starts every service from the working tree as a background process on Node 24, logs under the stack's run
 * directory, and waits until each `/health` answers 200.
 */
export async function startServices(env: NodeJS.ProcessEnv = {}): Promise<void> {
  mkdirSync(servicesDir, { recursive: true });
  await stopServices();
  for (const { name } of services) {
    launch(name, env);
    // Staggered: seven cold TypeScript compiles at once on two cores slow every one of them down.
    await sleep(300);
  }
  await Promise.all(services.map(({ name }) => waitHealthy(name)));
}

/** Starts one service that is not running (the chaos tool brings back one it killed) and waits until it is healthy. */
export async function startService(name: ServiceName, env: NodeJS.ProcessEnv = {}): Promise<void> {
  mkdirSync(servicesDir, { recursive: true });
  if (servicePid(name) === undefined) launch(name, env);
  await waitHealthy(name);
}

/** PID of a service this tooling started from this checkout, if it runs. */
export function servicePid(name: ServiceName): number | undefined {
  return livePid(files(name).pidFile, entryPoint(name));
}

export function serviceLogFile(name: ServiceName): string {
  return files(name).logFile;
}
