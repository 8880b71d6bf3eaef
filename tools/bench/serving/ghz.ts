import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot, repoRoot } from '../../stack/paths';

const run = promisify(execFile);

/** ghz, the gRPC load generator, built from the Go module proxy and cached like the stack's servers. */
export const GHZ_VERSION = 'v0.120.0';
const GHZ_DIR = join(cacheRoot, `ghz-${GHZ_VERSION}`);
export const GHZ = join(GHZ_DIR, 'ghz');

/** Builds ghz once per version (`go install` into a partial directory, renamed when complete); returns its path. */
export async function ensureGhz(log: (line: string) => void): Promise<string> {
  if (existsSync(GHZ)) return GHZ;
  log(`building ghz ${GHZ_VERSION} from the Go module proxy (one-off)`);
  const partial = `${GHZ_DIR}.partial`;
  mkdirSync(partial, { recursive: true });
  await run('go', ['install', `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-trimpath', GOBIN: partial },
    timeout: 30 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  rmSync(GHZ_DIR, { recursive: true, force: true });
  renameSync(partial, GHZ_DIR);
  return GHZ;
}

/** What one ghz run measured. */
export interface GhzResult {
  count: number;
  /** Requests per second over the run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** The slowest call. */
  slowestMs: number;
  /** Calls that did not end OK. */
  errors: number;
  /** The first error, if any. */
  firstError?: string;
  /** Calls by gRPC status as ghz names them (OK, ResourceExhausted, DeadlineExceeded, ...). */
  byStatus: Record<string, number>;
  /**
   * CPU time (user + system) of the ghz process itself over the run, ms: the load generator shares the machine's cores
   * with the server it drives, so at high rates it is part of what caps them.
   */
  clientCpuMs: number;
}

/**
 * CPU ms of this process's children that have exited and been reaped (/proc/self/stat's cutime + cstime). Read
 * around one ghz run, its difference is ghz's own CPU: the servers a bench starts run until the end, so none of
 * theirs is counted.
 */
function reapedChildrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // USER_HZ is 100 on Linux: a tick is 10 ms.
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

interface GhzJson {
  count: number;
  rps: number;
  slowest: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
}

/**
 * One ghz run of ModelInfer for `seconds`, sending the serialized request in `requestFile` (a ModelInferRequest,
 * protobuf binary). Closed loop at `concurrency` by default; with `openLoopRps` ghz sends at that rate whether or not
 * earlier calls have answered (`--async`), so a slow server meets the load a real client population would bring
 * instead of a politely waiting one, and `concurrency` only sizes ghz's pool of senders.
 */
export async function runGhz(options: {
  target: string;
  requestFile: string;
  concurrency: number;
  seconds: number;
  connections?: number;
  openLoopRps?: number;
}): Promise<GhzResult> {
  const openLoop =
    options.openLoopRps === undefined ? [] : ['--async', '--rps', String(Math.round(options.openLoopRps))];
  const args = [
    '--insecure',
    '--proto',
    join(repoRoot, 'proto/inference/grpc_predict_v2.proto'),
    '--import-paths',
    join(repoRoot, 'proto'),
    '--call',
    'inference.GRPCInferenceService.ModelInfer',
    '--binary-file',
    options.requestFile,
    '--concurrency',
    String(options.concurrency),
    '--connections',
    String(options.connections ?? 1),
    '--duration',
    `${options.seconds}s`,
    ...openLoop,
    '--format',
    'json',
    options.target,
  ];
  const childrenCpuBefore = reapedChildrenCpuMs();
  const { stdout } = await run(GHZ, args, { maxBuffer: 64 * 1024 * 1024, timeout: (options.seconds + 120) * 1000 });
  const clientCpuMs = reapedChildrenCpuMs() - childrenCpuBefore;
  const json = JSON.parse(stdout) as GhzJson;
  const latency = (percentage: number) =>
    (json.latencyDistribution?.find((entry) => entry.percentage === percentage)?.latency ?? NaN) / 1e6;
  const ok = json.statusCodeDistribution?.OK ?? 0;
  // ghz ends a timed run by closing its connection under the calls still in flight: those are not the server's errors.
  const cutAtEnd = Object.entries(json.errorDistribution ?? {})
    .filter(([message]) =>
      /closed network connection|context canceled|transport is closing|client connection is closing/.test(message),
    )
    .reduce((sum, [, n]) => sum + n, 0);
  const errors = Object.entries(json.errorDistribution ?? {}).filter(
    ([message]) =>
      !/closed network connection|context canceled|transport is closing|client connection is closing/.test(message),
  );
  // Closed loop leaves at most one call per worker in flight at the end; open loop may leave many more.
  const counted = json.count - (options.openLoopRps === undefined ? Math.min(cutAtEnd, options.concurrency) : cutAtEnd);
  return {
    count: counted,
    rps: (json.rps * ok) / Math.max(1, json.count),
    p50Ms: latency(50),
    p99Ms: latency(99),
    slowestMs: json.slowest / 1e6,
    errors: counted - ok,
    byStatus: json.statusCodeDistribution ?? {},
    clientCpuMs,
    ...(errors.length > 0 ? { firstError: errors[0][0] } : {}),
  };
}
