import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cacheRoot, repoRoot } from './paths';

/** The make file that builds the servers; its targets are the cached artifacts. */
export const provisionMakefile = join(repoRoot, 'deploy/local/provision.mk');

/** Held while anything provisions, so the background build started before `npm ci` and `stack up` never overlap. */
export const provisionLock = join(cacheRoot, 'provision.lock');

export const provisionLogs = join(cacheRoot, 'provision-logs');

/** Server versions, from the one file that pins them (deploy/local/versions.env, shared with the make file). */
export function pinnedVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(repoRoot, 'deploy/local/versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (match) versions[match[1]] = match[2];
  }
  return versions;
}

function lastLine(file: string): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 120);
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/**
 * Builds what is missing of `servers` (name → the artifact that proves it is built), all at once, under the
 * provisioning lock. While anything builds, a line every 30 s says what is still building, for how long, and the
 * latest line of its log, so a cold machine never looks stuck.
 */
export async function provisionServers(
  servers: readonly { name: string; artifact: string }[],
  log: (message: string) => void,
): Promise<void> {
  const missing = servers.filter((server) => !existsSync(server.artifact));
  if (missing.length === 0) return;
  mkdirSync(provisionLogs, { recursive: true });
  const started = Date.now();
  log(`provisioning ${missing.map((s) => s.name).join(', ')} (first run on this machine: up to ~15 min)`);
  const heartbeat = setInterval(() => {
    const pending = missing.filter((server) => !existsSync(server.artifact));
    const detail = pending.map((s) => `${s.name}: ${lastLine(join(provisionLogs, `${s.name}.log`))}`).join(' | ');
    log(`still building after ${minutes(Date.now() - started)}: ${detail || 'finishing'}`);
  }, 30_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'flock',
        [
          provisionLock,
          'make',
          '--no-print-directory',
          '-f',
          provisionMakefile,
          `-j${missing.length}`,
          `CACHE=${cacheRoot}`,
          ...missing.map((s) => s.name),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      createInterface({ input: child.stdout }).on('line', (line) => log(line.replace(/^\[provision\] /, '')));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`provisioning failed (exit ${code}); logs in ${provisionLogs}`)),
      );
    });
  } finally {
    clearInterval(heartbeat);
  }
  log(`provisioned in ${minutes(Date.now() - started)}`);
}
