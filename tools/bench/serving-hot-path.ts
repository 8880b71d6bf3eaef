/**
 * Serving's inference path alone, without the stack (tools/bench/serving/hot-path-server.ts: the real gRPC controller,
 * inference, prediction log and telemetry; only Kafka's send is faked) against the bare grpc-js echo server, driven by
 * ghz with the same requests as `npm run bench:serving`: where serving's CPU per request goes, before Kafka,
 * monitoring and the database add theirs. BENCH_SERVING_PROFILE_DIR=<dir> writes a CPU profile of each server
 * (<target>.cpuprofile, serving's covering its serving period only) when it stops. Writes docs/benchmarks/serving-hot-path.json.
 *
 *   node -r @swc-node/register tools/bench/serving-hot-path.ts   # BENCH_SERVING_SECONDS (10), _CONCURRENCY (16)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceClient, pipelineSpecFixture } from '@keel/testing';
import { cacheRoot, repoRoot } from '../stack/paths';
import { treeCpuSeconds } from './serving/cpu';
import { ensureGhz, runGhz } from './serving/ghz';
import { HOT_PATH_MODEL } from './serving/hot-path-model';
import { writeAdultRequestFile } from './serving/requests';

/** Serving as configured by default, serving with adaptive batching off, and the bare grpc-js echo server. */
const TARGETS = ['keel', 'keel-unbatched', 'echo'] as const;
type Target = (typeof TARGETS)[number];
const PORT: Record<Target, number> = { keel: 18_011, 'keel-unbatched': 18_013, echo: 18_012 };

const seconds = Number(process.env.BENCH_SERVING_SECONDS ?? 10);
const concurrency = Number(process.env.BENCH_SERVING_CONCURRENCY ?? 16);
const rowShapes = (process.env.BENCH_SERVING_ROWS ?? '1,64').split(',').map(Number);
const profileDir = process.env.BENCH_SERVING_PROFILE_DIR;

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
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
}

async function main(): Promise<void> {
  const workDir = join(cacheRoot, 'bench-serving-hot-path');
  mkdirSync(workDir, { recursive: true });
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  await ensureGhz(log);
  const sink = await startSpanSink();
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  const requestFile = (target: Target, rows: number) => join(workDir, `${target}-${rows}.bin`);
  for (const rows of rowShapes) {
    for (const target of TARGETS) {
      writeAdultRequestFile(requestFile(target, rows), spec, target === 'echo' ? 'echo' : HOT_PATH_MODEL, rows);
    }
  }
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, LOG_LEVEL: 'warn' };
  const hotPath = join(__dirname, 'serving/hot-path-server.ts');
  const servers: Record<Target, ChildProcess> = {
    keel: start(hotPath, PORT.keel, env, 'keel'),
    'keel-unbatched': start(hotPath, PORT['keel-unbatched'], { ...env, SERVING_BATCH_MAX_ROWS: '1' }, 'keel-unbatched'),
    echo: start(join(__dirname, 'serving/echo-server.ts'), PORT.echo, env, 'echo'),
  };
  const address = (target: Target) => `127.0.0.1:${PORT[target]}`;
  const loadBefore = loadavg()[0];
  const runs: object[] = [];
  try {
    for (const target of TARGETS) await waitForServer(address(target), target === 'echo' ? 'echo' : HOT_PATH_MODEL);
    for (const rows of rowShapes) {
      for (const target of TARGETS) {
        await runGhz({ target: address(target), requestFile: requestFile(target, rows), concurrency, seconds: 2 });
        const before = treeCpuSeconds(servers[target].pid!);
        const result = await runGhz({
          target: address(target),
          requestFile: requestFile(target, rows),
          concurrency,
          seconds,
        });
        const cpuMsPerRequest = ((treeCpuSeconds(servers[target].pid!) - before) * 1000) / Math.max(1, result.count);
        runs.push({ target, rows, ...result, rowsPerSecond: result.rps * rows, cpuMsPerRequest });
        log(
          `${target}, ${rows} rows: ${result.rps.toFixed(1)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ` +
            `${result.p99Ms.toFixed(2)} ms, ${cpuMsPerRequest.toFixed(3)} CPU ms/req (${(
              (cpuMsPerRequest * 1000) /
              rows
            ).toFixed(1)} µs/row), ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ''}`,
        );
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map(stop));
    sink.server.close();
  }
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, loadBefore, loadAfter: loadavg()[0], node: process.version },
    config: { seconds, concurrency, rowShapes },
    spanExports: sink.spans(),
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
