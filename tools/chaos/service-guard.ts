import { servicePid, services, startService, startServices, stopServices } from '../services/services';
import { unhealthyServices } from './pipeline-observer';

/**
 * Makes sure the seven services run from this checkout before a run that needs them (the chaos run, the soak). What
 * it finds running it leaves running at the end (`restoreServices`), restarting any it finds dead; what it starts
 * it stops again.
 */
export async function ensureServices(log: (message: string) => void): Promise<{ startedHere: boolean }> {
  const ours = services.filter(({ name }) => servicePid(name) !== undefined);
  if (ours.length === 0) {
    if ((await unhealthyServices()).length < services.length) {
      throw new Error('services started from another checkout hold the ports; stop them first (npm stop there)');
    }
    log('starting the seven services');
    await startServices();
    return { startedHere: true };
  }
  for (const { name } of services) if (servicePid(name) === undefined) await startService(name);
  return { startedHere: false };
}

export async function restoreServices({ startedHere }: { startedHere: boolean }): Promise<void> {
  if (startedHere) {
    await stopServices();
    return;
  }
  for (const { name } of services) if (servicePid(name) === undefined) await startService(name);
}
