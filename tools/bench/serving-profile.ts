/**
 * Serving's single-row ModelInfer path against the bare grpc-js echo server at the same offered load (open loop),
 * without the stack and without MLServer: CPU per request of each, and (BENCH_SERVING_PROFILE_DIR=<dir>) a CPU profile
 * of serving's serving period (keel.cpuprofile) to see where it goes. The quick loop for work on the hot path;
 * `npm run bench:serving` remains the measurement of record.
 *
 *   node -r @swc-node/register tools/bench/serving-profile.ts
 *   # BENCH_SERVING_EQUAL_RPS (1000), BENCH_SERVING_SECONDS (10), BENCH_SERVING_ROUNDS (3), BENCH_SERVING_ROWS (1)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceClient, pipelineSpecFixture } from '@keel/testing';
import { cacheRoot, repoRoot } from '../stack/paths';
import { treeCpuSeconds } from './serving/cpu';
import { ensureGhz, runGhz } from './serving/ghz';
import { HOT_PATH_MODEL } from './serving/hot-path-model';
import { writeAdultRequestFile } from './serving/requests';

/**
 * Serving variants to compare, `name[:VAR=value,...]` separated by `;` (BENCH_SERVING_VARIANTS, default `keel`): the
 * same hot-path server with other settings, e.g. `keel;untraced:OTEL_SDK_DISABLED=true;unbatched:SERVING_BATCH_MAX_ROWS=1`.
 */
const VARIANTS = (process.env.BENCH_SERVING_VARIANTS ?? 'keel').split(';').map((text) => {
  const [name, settings = ''] = text.split(':');
  return {
    name,
    env: Object.fromEntries(
      settings
        .split(',')
        .filter(Boolean)
        .map((pair) => pair.split('=')),
    ),
  };
});
/** BENCH_SERVING_BASELINE_REPO=<checkout>: a variant named `baseline` runs that checkout's hot-path server (e.g. main). */
const baselineRepo = process.env.BENCH_SERVING_BASELINE_REPO;
const TARGETS = [...VARIANTS.map((variant) => variant.name), 'echo'];
type Target = string;
const PORT: Record<Target, number> = Object.fromEntries(TARGETS.map((target, i) => [target, 18_021 + i]));
const rps = Number(process.env.BENCH_SERVING_EQUAL_RPS ?? 1_000);
const seconds = Number(process.env.BENCH_SERVING_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_SERVING_ROUNDS ?? 3);
const rows = Number(process.env.BENCH_SERVING_ROWS ?? 1);
const concurrency = Number(process.env.BENCH_SERVING_CONCURRENCY ?? 16);
const profileDir = process.env.BENCH_SERVING_PROFILE_DIR;

const log = (message: string) =>
  process.stderr.write(`[bench:serving-profile ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

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

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  const workDir = join(cacheRoot, 'bench-serving-profile');
  mkdirSync(workDir, { recursive: true });
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  await ensureGhz(log);
  // Spans go to a sink that drops them, as in the hot-path bench.
  const sink = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const env = {
    ...process.env,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
    LOG_LEVEL: 'warn',
  };
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  const modelOf = (target: Target) => (target === 'echo' ? 'echo' : HOT_PATH_MODEL);
  const file = (target: Target) => join(workDir, `${modelOf(target)}-${rows}.bin`);
  writeAdultRequestFile(file('keel'), spec, HOT_PATH_MODEL, rows, 4_096);
  writeAdultRequestFile(file('echo'), spec, 'echo', rows, 4_096);
  const servers = Object.fromEntries(
    TARGETS.map((target) => {
      const variant = VARIANTS.find((v) => v.name === target);
      const root = variant?.name === 'baseline' && baselineRepo ? baselineRepo : repoRoot;
      const script = join(root, 'tools/bench', variant ? 'serving/hot-path-server.ts' : 'serving/echo-server.ts');
      const profile = profileDir ? { HOT_PATH_PROFILE: join(profileDir, `${target}.cpuprofile`) } : {};
      const flags =
        profileDir && !variant ? ['--cpu-prof', '--cpu-prof-interval', '500', '--cpu-prof-dir', profileDir] : [];
      const child = spawn(process.execPath, [...flags, '-r', '@swc-node/register', script, String(PORT[target])], {
        cwd: root,
        env: { ...env, ...variant?.env, ...profile },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      return [target, child];
    }),
  ) as Record<Target, ChildProcess>;
  const address = (target: Target) => `127.0.0.1:${PORT[target]}`;
  try {
    for (const target of TARGETS) await waitForServer(address(target), modelOf(target));
    for (const target of TARGETS) {
      await runGhz({ target: address(target), requestFile: file(target), concurrency, seconds: 3 });
    }
    const cpu: Record<Target, number[]> = Object.fromEntries(TARGETS.map((target) => [target, []]));
    for (let round = 1; round <= rounds; round++) {
      // The order rotates each round, so no server always runs after the same one.
      for (const target of TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length])) {
        const before = treeCpuSeconds(servers[target].pid!);
        const result = await runGhz({
          target: address(target),
          requestFile: file(target),
          concurrency,
          seconds,
          openLoopRps: rps,
        });
        const ms = ((treeCpuSeconds(servers[target].pid!) - before) * 1000) / Math.max(1, result.count - result.errors);
        cpu[target].push(ms);
        log(
          `round ${round} ${target}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ` +
            `${result.p99Ms.toFixed(2)} ms, ${ms.toFixed(3)} CPU ms/req, ${result.errors} errors, load ${loadavg()[0].toFixed(1)}`,
        );
      }
    }
    const echo = median(cpu.echo);
    for (const target of TARGETS) {
      const ms = median(cpu[target]);
      log(`median at ${rps} req/s: ${target} ${ms.toFixed(3)} CPU ms/req, ${(ms / echo).toFixed(2)}× echo`);
    }
  } finally {
    for (const child of Object.values(servers)) child.kill('SIGTERM');
    await sleep(6_000);
    sink.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:serving-profile failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
