import { readFileSync } from 'node:fs';
import { get } from 'node:http';

/**
 * What one service's main thread did between two reads: its event loop's largest delay (perf_hooks'
 * monitorEventLoopDelay, 10 ms resolution, as prom-client samples it for `/metrics`), and where its time went. On a
 * machine shared with other work, a delay is the loop's own work or waiting for a CPU: `mainCpuMs` is the main
 * thread's time on a CPU and `mainWaitMs` its time runnable but waiting for one (the kernel's schedstat), so a delay
 * over the bound with little CPU of the main thread is scheduling, not blocking.
 */
export interface LoopWindow {
  loopMaxMs: number;
  /** The main thread's CPU time in the window (ms). */
  mainCpuMs: number;
  /** The main thread's time waiting on a run queue in the window (ms). */
  mainWaitMs: number;
  /** The whole process's CPU (every thread: workers, GC, libuv's pool) in the window (ms). */
  processCpuMs: number;
  /**
   * For a window sampled in steps (a long send): the main thread's CPU in the step where the largest delay was read
   * and the step before it, which bounds how much of that delay was the loop's own work.
   */
  ownCpuBoundMs?: number;
}

interface Reading {
  loopMaxMs: number;
  processCpuMs: number;
  mainCpuNs: number;
  mainWaitNs: number;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Reads a running service's event-loop delay from its `/metrics` (prom-client's `nodejs_eventloop_lag_max_seconds`,
 * whose histogram is reset on every scrape, so each read covers exactly the time since the previous one) and its
 * main thread's schedstat from /proc. Nothing else may scrape the service meanwhile (the stack runs no Prometheus).
 */
export class ServiceProbe {
  private last: Reading | undefined;

  constructor(
    readonly service: string,
    private readonly httpUrl: string,
    private readonly pid: number | undefined,
  ) {}

  /** Starts a window (the reading is kept; its delay covers the time before it and is dropped). */
  async start(): Promise<void> {
    this.last = await this.read();
  }

  /** Ends the window begun by the previous start or end, and begins the next. */
  async end(): Promise<LoopWindow> {
    const before = this.last ?? (await this.read());
    const now = await this.read();
    this.last = now;
    return {
      loopMaxMs: round1(now.loopMaxMs),
      mainCpuMs: round1((now.mainCpuNs - before.mainCpuNs) / 1e6),
      mainWaitMs: round1((now.mainWaitNs - before.mainWaitNs) / 1e6),
      processCpuMs: round1(now.processCpuMs - before.processCpuMs),
    };
  }

  private async read(): Promise<Reading> {
    const text = await scrape(`${this.httpUrl}/metrics`).catch(() => scrape(`${this.httpUrl}/metrics`));
    const [cpuNs, waitNs] = this.schedstat();
    return {
      loopMaxMs: metric(text, 'keel_nodejs_eventloop_lag_max_seconds') * 1000,
      processCpuMs: metric(text, 'keel_process_cpu_seconds_total') * 1000,
      mainCpuNs: cpuNs,
      mainWaitNs: waitNs,
    };
  }

  /** The main thread's (task id = pid) time on a CPU and waiting for one, in ns; zeros when not known. */
  private schedstat(): [number, number] {
    if (this.pid === undefined) return [0, 0];
    try {
      const [cpu, wait] = readFileSync(`/proc/${this.pid}/task/${this.pid}/schedstat`, 'utf8').trim().split(/\s+/);
      return [Number(cpu), Number(wait)];
    } catch {
      return [0, 0];
    }
  }
}

/**
 * GET on a connection of its own (no agent): the fuzz's requests to the same service share fetch's keep-alive pool,
 * and a connection the service closed after refusing a body must not fail a reading.
 */
function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        response.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(new Error(`${url}: HTTP ${response.statusCode}`)),
      );
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer in 10 s`)));
    request.on('error', reject);
  });
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (!line) throw new Error(`/metrics has no ${name}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The most delayed of several windows, with the CPU figures of that window. */
export function worse(a: LoopWindow | undefined, b: LoopWindow): LoopWindow {
  return a === undefined || b.loopMaxMs > a.loopMaxMs ? b : a;
}
