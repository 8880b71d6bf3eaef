/**
 * Serving's inference path alone, without the stack (tools/bench/serving/hot-path-server.ts: the real gRPC controller,
 * inference, prediction log and telemetry; only Kafka's send is faked) against the bare grpc-js echo server, driven by
 * ghz with the same requests as `npm run bench:serving`: where serving's CPU per request goes, before Kafka,
 * monitoring and the database add theirs. BENCH_SERVING_PROFILE_DIR=<dir> writes a CPU profile of each server
 * (<target>.cpuprofile, serving's covering its serving period only) when it stops. Writes docs/benchmarks/serving-hot-path.json.
 *
 *   node -r @swc-node/register tools/bench/serving-hot-path.ts   # BENCH_SERVING_SECONDS (10), _CONCURRENCY (16)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceClient, pipelineSpecFixture } from '@keel/testing';
import { cacheRoot, repoRoot } from '../stack/paths';
import { treeCpuSeconds } from './serving/cpu';
import { ensureGhz, type GhzResult, runGhz } from './serving/ghz';
import { HOT_PATH_MODEL } from './serving/hot-path-model';
import { ensureMlserverVenv, prepareMlserverModel, startMlserver } from './serving/mlserver';
import { requestCount, writeAdultRequestFile, writeMatrixRequestFile } from './serving/requests';

/**
 * Serving as configured by default, serving with adaptive batching off, MLServer (LightGBM runtime, the same Adult
 * model shape) and the bare grpc-js echo server.
 */
const TARGETS = ['keel', 'keel-unbatched', 'mlserver', 'echo'] as const;
type Target = (typeof TARGETS)[number];
const PORT: Record<Target, number> = { keel: 18_011, 'keel-unbatched': 18_013, mlserver: 18_091, echo: 18_012 };
const MLSERVER_PORTS = { http: 18_090, grpc: PORT.mlserver, metrics: 18_092 };
const rounds = Number(process.env.BENCH_SERVING_ROUNDS ?? 3);

const seconds = Number(process.env.BENCH_SERVING_SECONDS ?? 10);
const concurrency = Number(process.env.BENCH_SERVING_CONCURRENCY ?? 16);
const rowShapes = (process.env.BENCH_SERVING_ROWS ?? '1,64').split(',').map(Number);
/** Different rows the load carries (one row repeated is no traffic a model sees), as in the stack bench. */
const distinctRows = Number(process.env.BENCH_SERVING_DISTINCT_ROWS ?? 4_096);
const profileDir = process.env.BENCH_SERVING_PROFILE_DIR;
/**
 * The open-loop rate at which serving's and the echo server's CPU per single-row request are also compared (a closed
 * loop gives each server its own rate, and a busier Node process spends less CPU per request); 0 skips it.
 */
const equalLoadRps = Number(process.env.BENCH_SERVING_EQUAL_RPS ?? 1_000);

const log = (message: string) =>
  process.stderr.write(`[bench:serving-hot-path ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Accepts OTLP exports and drops them: spans cost the server what they cost with Jaeger, minus Jaeger. */
async function startSpanSink(): Promise<{ server: HttpServer; url: string; spans: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      requests++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => requests,
  };
}

function start(script: string, port: number, env: NodeJS.ProcessEnv, name: string): ChildProcess {
  // The hot-path server profiles its serving period itself; the echo server is profiled whole.
  const profiled = profileDir !== undefined && name === 'echo';
  const flags = profiled ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const profile = profileDir && !profiled ? { HOT_PATH_PROFILE: join(profileDir, `${name}.cpuprofile`) } : {};
  return spawn(process.execPath, [...flags, '-r', '@swc-node/register', script, String(port)], {
    cwd: repoRoot,
    env: { ...process.env, ...env, ...profile },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitForServer(address: string, model: string): Promise<void> {
  const client = new InferenceClient(address);
  try {
    for (let attempt = 0; attempt < 240; attempt++) {
      const ready = await client.modelReady({ name: model, version: '' }).catch(() => ({ ready: false }));
      if (ready.ready) return;
      await sleep(500);
    }
    throw new Error(`${address} not ready`);
  } finally {
    client.close();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    // MLServer runs in its own process group with its inference workers.
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  await Promise.race([exited, sleep(15_000)]);
}

interface HotPathRun extends GhzResult {
  round: number;
  target: Target;
  rows: number;
  rowsPerSecond: number;
  cpuMsPerRequest: number;
  /** ghz's own CPU per answered request (the load generator shares the two cores with the server). */
  clientCpuMsPerRequest: number;
}

const median = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  const workDir = join(cacheRoot, 'bench-serving-hot-path');
  mkdirSync(workDir, { recursive: true });
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  await ensureGhz(log);
  const sink = await startSpanSink();
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  await ensureMlserverVenv(log);
  const matrixRows = Math.max(...rowShapes.map((rows) => requestCount(rows, distinctRows) * rows));
  const mlserverModel = await prepareMlserverModel(join(workDir, 'mlserver'), MLSERVER_PORTS, matrixRows);
  const modelOf: Record<Target, string> = {
    keel: HOT_PATH_MODEL,
    'keel-unbatched': HOT_PATH_MODEL,
    mlserver: mlserverModel.name,
    echo: 'echo',
  };
  const requestFile = (target: Target, rows: number) => join(workDir, `${target}-${rows}.bin`);
  for (const rows of rowShapes) {
    for (const target of TARGETS) {
      if (target === 'mlserver') continue;
      writeAdultRequestFile(requestFile(target, rows), spec, modelOf[target], rows, distinctRows);
    }
    writeMatrixRequestFile(requestFile('mlserver', rows), mlserverModel.name, mlserverModel.rows, rows, distinctRows);
  }
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, LOG_LEVEL: 'warn' };
  const hotPath = join(__dirname, 'serving/hot-path-server.ts');
  const servers: Record<Target, ChildProcess> = {
    keel: start(hotPath, PORT.keel, env, 'keel'),
    'keel-unbatched': start(hotPath, PORT['keel-unbatched'], { ...env, SERVING_BATCH_MAX_ROWS: '1' }, 'keel-unbatched'),
    mlserver: startMlserver(join(workDir, 'mlserver'), join(workDir, 'mlserver.log')),
    echo: start(join(__dirname, 'serving/echo-server.ts'), PORT.echo, env, 'echo'),
  };
  // Killed (a timeout, Ctrl-C): the servers go too, or the next run meets them on its ports.
  const onSignal = () => void Promise.all(Object.values(servers).map(stop)).finally(() => process.exit(130));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const address = (target: Target) => `127.0.0.1:${PORT[target]}`;
  const loadBefore = loadavg()[0];
  const runs: HotPathRun[] = [];
  const equalLoad: {
    round: number;
    target: 'keel' | 'echo';
    rps: number;
    p99Ms: number;
    cpuMsPerRequest: number;
    errors: number;
  }[] = [];
  try {
    for (const target of TARGETS) await waitForServer(address(target), modelOf[target]);
    for (const rows of rowShapes) {
      for (const target of TARGETS) {
        await runGhz({ target: address(target), requestFile: requestFile(target, rows), concurrency, seconds: 2 });
      }
    }
    // Alternating rounds, the order of the servers rotating each round, as the stack bench does.
    for (let round = 1; round <= rounds; round++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length]);
      for (const rows of rowShapes) {
        for (const target of order) {
          const before = treeCpuSeconds(servers[target].pid!);
          const result = await runGhz({
            target: address(target),
            requestFile: requestFile(target, rows),
            concurrency,
            seconds,
          });
          const cpuMsPerRequest = ((treeCpuSeconds(servers[target].pid!) - before) * 1000) / Math.max(1, result.count);
          const clientCpuMsPerRequest = result.clientCpuMs / Math.max(1, result.count);
          runs.push({
            round,
            target,
            rows,
            ...result,
            rowsPerSecond: result.rps * rows,
            cpuMsPerRequest,
            clientCpuMsPerRequest,
          });
          log(
            `${target}, ${rows} rows: ${result.rps.toFixed(1)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ` +
              `${result.p99Ms.toFixed(2)} ms, ${cpuMsPerRequest.toFixed(3)} CPU ms/req (${(
                (cpuMsPerRequest * 1000) /
                rows
              ).toFixed(1)} µs/row), ghz ${clientCpuMsPerRequest.toFixed(3)} CPU ms/req, ${result.errors} errors${
                result.firstError ? ` (${result.firstError})` : ''
              }`,
          );
        }
      }
    }
    // Serving against the echo server at one offered load, alternating which goes first.
    for (let round = 1; equalLoadRps > 0 && rowShapes.includes(1) && round <= rounds; round++) {
      for (const target of round % 2 ? (['keel', 'echo'] as const) : (['echo', 'keel'] as const)) {
        const before = treeCpuSeconds(servers[target].pid!);
        const result = await runGhz({
          target: address(target),
          requestFile: requestFile(target, 1),
          concurrency,
          seconds,
          openLoopRps: equalLoadRps,
        });
        const answered = Math.max(1, result.count - result.errors);
        const cpuMsPerRequest = ((treeCpuSeconds(servers[target].pid!) - before) * 1000) / answered;
        equalLoad.push({ round, target, rps: result.rps, p99Ms: result.p99Ms, cpuMsPerRequest, errors: result.errors });
        log(
          `equal load ${equalLoadRps} req/s, ${target}: ${result.rps.toFixed(1)} req/s, ${cpuMsPerRequest.toFixed(3)} CPU ms/req`,
        );
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map(stop));
    sink.server.close();
  }
  const report = {
    date: new Date().toISOString(),
    commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim(),
    machine: { cores: cpus().length, loadBefore, loadAfter: loadavg()[0], node: process.version },
    config: { seconds, concurrency, rowShapes, rounds, distinctRows },
    spanExports: sink.spans(),
    ...(equalLoad.length > 0
      ? {
          equalLoad: {
            rps: equalLoadRps,
            runs: equalLoad,
            keelCpuMsPerRequest: median(equalLoad.filter((r) => r.target === 'keel').map((r) => r.cpuMsPerRequest)),
            echoCpuMsPerRequest: median(equalLoad.filter((r) => r.target === 'echo').map((r) => r.cpuMsPerRequest)),
          },
        }
      : {}),
    summary: TARGETS.flatMap((target) =>
      rowShapes.map((rows) => {
        const mine = runs.filter((run) => run.target === target && run.rows === rows);
        const of = (field: 'rps' | 'rowsPerSecond' | 'p50Ms' | 'p99Ms' | 'cpuMsPerRequest' | 'clientCpuMsPerRequest') =>
          median(mine.map((run) => run[field]));
        return {
          target,
          rows,
          rps: of('rps'),
          rowsPerSecond: of('rowsPerSecond'),
          p50Ms: of('p50Ms'),
          p99Ms: of('p99Ms'),
          cpuMsPerRequest: of('cpuMsPerRequest'),
          clientCpuMsPerRequest: of('clientCpuMsPerRequest'),
          errors: mine.reduce((sum, run) => sum + run.errors, 0),
        };
      }),
    ),
    runs,
  };
  writeFileSync(join(repoRoot, 'docs/benchmarks/serving-hot-path.json'), `${JSON.stringify(report, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:serving-hot-path failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
