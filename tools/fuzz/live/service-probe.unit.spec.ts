/**
 * The live fuzz's reading of a service's loop: the delay of each window comes from the service's `/metrics` (reset
 * on every read, so a window is exactly the time between two reads), the CPU figures from the main thread's
 * schedstat. A stub `/metrics` stands in for a service here; the thread read is this process's own.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveMarkdown, type LiveRun } from './live-report';
import { ServiceProbe, worse } from './service-probe';

describe('ServiceProbe', () => {
  let server: Server;
  let url = '';
  const served = { lagSeconds: 0.012, cpuSeconds: 1.5 };

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.end(
        [
          '# HELP keel_nodejs_eventloop_lag_max_seconds The maximum recorded event loop delay.',
          `keel_nodejs_eventloop_lag_max_seconds{service="stub"} ${served.lagSeconds}`,
          `keel_process_cpu_seconds_total{service="stub"} ${served.cpuSeconds}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reports the delay the service measured since the window began, and the CPU spent in it', async () => {
    const probe = new ServiceProbe('stub', url, process.pid);
    await probe.start();
    // Work on this (the "service's") main thread, so its schedstat moves.
    // 40 ms of CPU, however long a busy machine takes to give it.
    const started = process.cpuUsage();
    while (process.cpuUsage(started).user < 40_000) Math.sqrt(Math.random());
    served.lagSeconds = 0.1234;
    served.cpuSeconds = 1.75;
    const window = await probe.end();
    expect(window.loopMaxMs).toBe(123.4);
    expect(window.processCpuMs).toBe(250);
    expect(window.mainCpuMs).toBeGreaterThanOrEqual(20);
    expect(window.mainWaitMs).toBeGreaterThanOrEqual(0);
  });

  it('reports zero thread figures for a process it cannot see', async () => {
    const window = await new ServiceProbe('stub', url, undefined).end();
    expect(window.mainCpuMs).toBe(0);
    expect(window.mainWaitMs).toBe(0);
  });

  it('keeps the more delayed window', () => {
    const low = { loopMaxMs: 10, mainCpuMs: 1, mainWaitMs: 0, processCpuMs: 1 };
    const high = { loopMaxMs: 50, mainCpuMs: 1, mainWaitMs: 0, processCpuMs: 1 };
    expect(worse(undefined, low)).toBe(low);
    expect(worse(low, high)).toBe(high);
    expect(worse(high, low)).toBe(high);
  });
});

describe('liveMarkdown', () => {
  const window = (loopMaxMs: number, mainCpuMs: number) => ({ loopMaxMs, mainCpuMs, mainWaitMs: 5, processCpuMs: 9 });
  const run: LiveRun = {
    date: '2026-12-03T09:00:00.000Z',
    finished: '2026-12-03T09:06:00.000Z',
    commit: 'abc1234',
    seed: 1,
    cores: 2,
    loadAtStart: [3.2, 3, 3],
    idle: { serving: window(11, 1) },
    results: [
      {
        door: 'serving gRPC ModelInfer',
        owner: 'serving',
        limit: 'GRPC_MAX_RECEIVE_BYTES (16 MiB)',
        cases: 100,
        groups: 4,
        outcomes: { accepted: 20, 'gRPC INVALID_ARGUMENT: bad': 80 },
        worstLatencyMs: 12,
        settleProblems: [],
        generated: { serving: window(30, 20), registry: window(12, 1) },
        overBound: [],
        largest: [
          {
            label: '10000 valid rows',
            bytes: 2 * 1024 * 1024,
            outcome: 'accepted',
            latencyMs: 140,
            worstService: 'serving',
            window: window(130, 40),
          },
        ],
      },
    ],
  };

  it('names the worst delay per service, whether its main thread was on a CPU that long, and the reasons', () => {
    const text = liveMarkdown(run);
    expect(text).toContain('the worst delay was serving 130 ms (serving gRPC ModelInfer: 10000 valid rows;');
    expect(text).toContain('In none of them was the main thread on a CPU for 100 ms around the delay');
    expect(text).toMatch(/\| serving \| 130 \| 40 \| 5 \| serving gRPC ModelInfer: 10000 valid rows \|/);
    expect(text).toContain('80 × `gRPC INVALID_ARGUMENT: bad`');
  });
});
