import { afterEach, describe, expect, it } from 'vitest';
import { HealthRegistry } from './health-registry';

const up = async () => undefined;
const down = (message: string) => async () => {
  throw new Error(message);
};

describe('HealthRegistry: readiness and liveness rules', () => {
  let registry: HealthRegistry;
  afterEach(() => registry?.onModuleDestroy());

  it('given every indicator up, then ready and live', async () => {
    registry = new HealthRegistry();
    registry.register({ name: 'kafka', check: up });
    registry.register({ name: 'consumer keel.datasets', check: up });
    expect(await registry.readiness()).toMatchObject({ status: 'ok', lifecycle: 'running' });
    expect(registry.liveness()).toMatchObject({ status: 'ok', lifecycle: 'running' });
  });

  it('given a dependency down, then not ready, but still live (an outage must not restart the pod)', async () => {
    registry = new HealthRegistry();
    registry.register({ name: 'kafka', check: up });
    registry.register({ name: 'object-storage', check: down('connect ECONNREFUSED') });
    const ready = await registry.readiness();
    expect(ready.status).toBe('error');
    expect(ready.checks['object-storage']).toMatchObject({ status: 'down', error: 'connect ECONNREFUSED' });
    expect(ready.checks.kafka.status).toBe('up');
    expect(registry.liveness().status).toBe('ok');
  });

  it('given report-only dependencies down (serving answers from memory), then still ready, and they are reported', async () => {
    registry = new HealthRegistry();
    registry.reportOnly('object-storage');
    registry.register({ name: 'object-storage', check: down('connect ECONNREFUSED') });
    registry.register({ name: 'consumer serving.models-x', check: down('crashed'), gatesReadiness: false });
    registry.register({ name: 'models', check: up });
    const ready = await registry.readiness();
    expect(ready.status).toBe('ok');
    expect(ready.checks['object-storage']).toEqual({
      status: 'down',
      latencyMs: expect.any(Number),
      error: 'connect ECONNREFUSED',
      gatesReadiness: false,
    });
    expect(ready.checks['consumer serving.models-x'].gatesReadiness).toBe(false);
    expect(ready.checks.models.gatesReadiness).toBeUndefined();
  });

  it('given an app indicator down (serving: models not loaded), then not ready', async () => {
    registry = new HealthRegistry();
    registry.register({ name: 'models', check: down('adult-income champion not loaded') });
    expect((await registry.readiness()).status).toBe('error');
  });

  it('given shutdown has begun, then not ready even with every indicator up, and still live', async () => {
    registry = new HealthRegistry();
    registry.register({ name: 'kafka', check: up });
    let changes = 0;
    registry.onLifecycleChange(() => void changes++);
    registry.beginShutdown();
    expect(await registry.readiness()).toMatchObject({ status: 'error', lifecycle: 'shutting-down' });
    expect(registry.liveness().status).toBe('ok');
    expect(registry.accepting).toBe(false);
    expect(changes).toBe(1);
  });

  it('given a fatal condition, then neither live nor ready, and the fatal listeners hear it once', async () => {
    registry = new HealthRegistry();
    registry.register({ name: 'kafka', check: up });
    const heard: string[] = [];
    registry.onFatal((reason) => heard.push(reason));
    registry.markFatal('consumer keel.datasets failed: not back within 300000 ms');
    registry.markFatal('a second reason');
    expect(registry.liveness()).toMatchObject({ status: 'error', fatal: expect.stringMatching(/keel.datasets/) });
    expect(await registry.readiness()).toMatchObject({ status: 'error', lifecycle: 'failed' });
    expect(heard).toEqual(['consumer keel.datasets failed: not back within 300000 ms']);
  });

  it('reports event-loop delay figures in milliseconds', () => {
    registry = new HealthRegistry();
    const { eventLoopDelayMs } = registry.liveness();
    expect(Object.keys(eventLoopDelayMs).sort()).toEqual(['currentMax', 'max', 'p50', 'p99', 'windowSeconds']);
    expect(Number.isFinite(eventLoopDelayMs.currentMax)).toBe(true);
  });
});
