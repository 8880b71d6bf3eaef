import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../stack/paths';

const run = promisify(execFile);

/** promtool, Prometheus's rule checker, built from the Go module proxy and cached like the stack's servers. */
export const PROMTOOL_VERSION = 'v0.316.0';
const PROMTOOL_DIR = join(cacheRoot, `promtool-${PROMTOOL_VERSION}`);
export const PROMTOOL = join(PROMTOOL_DIR, 'promtool');

/** Builds promtool once per version (`go install` into a partial directory, renamed when complete); returns its path. */
export async function ensurePromtool(log: (line: string) => void = () => undefined): Promise<string> {
  if (existsSync(PROMTOOL)) return PROMTOOL;
  log(`building promtool ${PROMTOOL_VERSION} from the Go module proxy (one-off)`);
  const partial = `${PROMTOOL_DIR}.partial`;
  mkdirSync(partial, { recursive: true });
  await run('go', ['install', `github.com/prometheus/prometheus/cmd/promtool@${PROMTOOL_VERSION}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-trimpath', GOBIN: partial },
    timeout: 30 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  rmSync(PROMTOOL_DIR, { recursive: true, force: true });
  renameSync(partial, PROMTOOL_DIR);
  return PROMTOOL;
}

/** Runs promtool; resolves with its output, rejects with it (stdout and stderr) when it exits non-zero. */
export async function promtool(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(await ensurePromtool(), args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return `${stdout}${stderr}`;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed: ${failed.stdout ?? ''}${failed.stderr ?? failed.message}`);
  }
}
