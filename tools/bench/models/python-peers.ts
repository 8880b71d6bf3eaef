import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { type BenchRecord } from './report';

/** Python venv for the peers, outside the repository. */
export const VENV = resolve(homedir(), '.cache/keel/venv-models');
const PYTHON = resolve(VENV, 'bin/python');

/** Create the venv and install the pinned peers if it is missing or incomplete. */
export function ensureVenv(): void {
  const ready = () =>
    existsSync(PYTHON) &&
    spawnSync(PYTHON, ['-c', 'import sklearn, xgboost, lightgbm, pandas, numpy'], { stdio: 'ignore' }).status === 0;
  if (ready()) return;
  console.log(`preparing ${VENV} (one-off: scikit-learn, xgboost, lightgbm, ...)`);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status}`);
  };
  if (!existsSync(PYTHON)) run('python3', ['-m', 'venv', VENV]);
  run(PYTHON, ['-m', 'pip', 'install', '-q', '-r', resolve(__dirname, 'requirements.txt')]);
}

/** Run the peers single-threaded and return their records. */
export function runPeers(adultCsv: string, elec2Csv: string, repeats: number): BenchRecord[] {
  const single = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const r = spawnSync(PYTHON, [resolve(__dirname, 'peers.py'), adultCsv, elec2Csv, String(repeats)], {
    env: { ...process.env, ...single },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    timeout: 10 * 60 * 1000,
  });
  if (r.status !== 0) throw new Error(`peers.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as BenchRecord[];
}
