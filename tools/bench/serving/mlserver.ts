import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURE_DATASETS, repoRoot } from '@keel/testing';
import { cacheRoot } from '../../stack/paths';

const run = promisify(execFile);

/** MLServer and its LightGBM runtime from PyPI, outside the repository. */
export const MLSERVER_VENV = join(cacheRoot, 'venv-mlserver');
const PYTHON = join(MLSERVER_VENV, 'bin/python');
const REQUIREMENTS = resolve(__dirname, 'requirements.txt');
const MARKER = join(MLSERVER_VENV, 'keel-requirements.sha256');

/** Creates the venv and installs the pinned requirements unless a complete install of them is there. */
export async function ensureMlserverVenv(log: (line: string) => void): Promise<void> {
  const wanted = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  if (existsSync(MARKER) && readFileSync(MARKER, 'utf8').trim() === wanted) return;
  log(`preparing ${MLSERVER_VENV} (one-off: mlserver, mlserver-lightgbm from PyPI)`);
  const options = { timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 };
  if (!existsSync(PYTHON)) await run('python3', ['-m', 'venv', MLSERVER_VENV], options);
  await run(PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS], options);
  await run(PYTHON, ['-c', 'import mlserver, mlserver_lightgbm, lightgbm'], options);
  writeFileSync(MARKER, `${wanted}\n`);
}

export interface MlserverModel {
  name: string;
  /** The request rows, encoded as the model's one FP64 matrix input. */
  rows: number[][];
}

/**
 * Trains the LightGBM Adult model into `dir` as MLServer's model repository (with the server's settings: its ports),
 * single-threaded like the other servers' models; returns the encoded request rows.
 */
export async function prepareMlserverModel(
  dir: string,
  ports: { http: number; grpc: number; metrics: number },
  requestRows: number,
): Promise<MlserverModel> {
  mkdirSync(dir, { recursive: true });
  const name = 'adult-lightgbm';
  const settings = JSON.stringify({
    http_port: ports.http,
    grpc_port: ports.grpc,
    metrics_port: ports.metrics,
    debug: false,
  });
  const { stdout } = await run(
    PYTHON,
    [
      resolve(__dirname, 'train_lightgbm.py'),
      resolve(repoRoot, FIXTURE_DATASETS.adult),
      dir,
      name,
      String(requestRows),
      settings,
    ],
    { env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 64 * 1024 * 1024, timeout: 10 * 60_000 },
  );
  return { name, rows: (JSON.parse(stdout) as { rows: number[][] }).rows };
}

/** Starts `mlserver start <dir>` in its own process group (so its inference workers stop with it). */
export function startMlserver(dir: string, logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  return spawn(join(MLSERVER_VENV, 'bin/mlserver'), ['start', dir], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
}
