import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths';

/** Runs `stack.ts <command>` in a child process, output passed through. */
export function stack(command: 'up' | 'down' | 'status'): void {
  execFileSync(process.execPath, ['-r', '@swc-node/register', join(repoRoot, 'tools/stack/stack.ts'), command], {
    stdio: 'inherit',
    cwd: repoRoot,
  });
}
