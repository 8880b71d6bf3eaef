import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { servicePid, services } from '../../services/services';
import { livePid } from '../../stack/processes';
import { serverDirs, servers } from '../../stack/servers';
import { treeCpuSeconds } from '../serving/cpu';

/**
 * Where the machine's CPU went during a soak minute: each service and stack server (its process tree), the load
 * generator (this process and the ghz runs it waited for) and everything else on the machine (other work sharing it),
 * so a slow minute can be told apart: serving's own stall, a server's, or the machine taken away.
 */
export interface CpuSnapshot {
  at: number;
  /** CPU seconds so far of each process tree by name. */
  trees: Record<string, number>;
  /** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
  machineBusy: number;
  machineTotal: number;
}

const TICKS_PER_SECOND = 100;

function machineTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  // idle and iowait are the idle ones.
  const busy = total - fields[3] - fields[4];
  return { busy: busy / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

function treeRoots(): Record<string, number | undefined> {
  const roots: Record<string, number | undefined> = {};
  for (const { name } of services) roots[name] = servicePid(name);
  for (const server of servers) roots[server.name] = livePid(serverDirs(server).pidFile, server.marker);
  roots['load generator'] = process.pid;
  return roots;
}

export function cpuSnapshot(): CpuSnapshot {
  const trees: Record<string, number> = {};
  for (const [name, pid] of Object.entries(treeRoots())) {
    if (pid !== undefined) trees[name] = treeCpuSeconds(pid);
  }
  const { busy, total } = machineTimes();
  return { at: Date.now(), trees, machineBusy: busy, machineTotal: total };
}

/** CPU between two snapshots as percent of one core per tree, plus the machine's busy share and "other work". */
export interface CpuUse {
  /** Percent of one core, by process tree. */
  cores: Record<string, number>;
  /** Percent of one core used by processes outside the soak's (other sessions' work). */
  other: number;
  /** Busy share of the whole machine, percent. */
  machineBusyPercent: number;
}

export function cpuBetween(from: CpuSnapshot, to: CpuSnapshot): CpuUse {
  const seconds = (to.at - from.at) / 1000;
  const cores: Record<string, number> = {};
  let ours = 0;
  for (const [name, value] of Object.entries(to.trees)) {
    const before = from.trees[name];
    // A tree that restarted between the snapshots has no comparable counter.
    if (before === undefined || value < before) continue;
    cores[name] = ((value - before) / seconds) * 100;
    ours += value - before;
  }
  const busy = to.machineBusy - from.machineBusy;
  const total = to.machineTotal - from.machineTotal;
  return {
    cores,
    other: Math.max(0, ((busy - ours) / seconds) * 100),
    machineBusyPercent: total > 0 ? (busy / total) * 100 : NaN,
  };
}

export function loadAverage(): number {
  return loadavg()[0];
}

/** Serving's event-loop delay over its last 10 s window, from its liveness probe (public, no key needed). */
export async function servingLoopDelay(healthUrl: string): Promise<{ p99: number; max: number } | undefined> {
  try {
    const response = await fetch(`${healthUrl}/health/live`, { signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { eventLoopDelayMs?: { p99: number; max: number } };
    return body.eventLoopDelayMs ? { p99: body.eventLoopDelayMs.p99, max: body.eventLoopDelayMs.max } : undefined;
  } catch {
    return undefined;
  }
}

/** Serving's own counters that explain a slow minute: GC time, prediction logs waiting for Kafka, calls shed. */
export interface ServingCounters {
  /** Seconds spent in GC so far (all kinds). */
  gcSeconds: number;
  /** Rows of answered requests whose prediction logs wait to be published. */
  pendingLogRows: number;
  /** Calls refused by admission control so far. */
  shedCalls: number;
  heapUsedMiB: number;
}

function sumOf(text: string, metric: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(metric) && (line[metric.length] === ' ' || line[metric.length] === '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** Reads serving's Prometheus metrics (the local stack runs without authentication); undefined when unreachable. */
export async function servingCounters(httpUrl: string): Promise<ServingCounters | undefined> {
  try {
    const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return undefined;
    const text = await response.text();
    return {
      gcSeconds: sumOf(text, 'keel_nodejs_gc_duration_seconds_sum'),
      pendingLogRows: sumOf(text, 'keel_serving_prediction_log_pending_rows'),
      shedCalls: sumOf(text, 'keel_serving_calls_shed_total'),
      heapUsedMiB: sumOf(text, 'keel_nodejs_heap_size_used_bytes') / 1024 / 1024,
    };
  } catch {
    return undefined;
  }
}
