import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths';

type StackCommand = 'up' | 'down' | 'status';

const stackArgs = (command: StackCommand) => [
  '-r',
  '@swc-node/register',
  join(repoRoot, 'tools/stack/stack.ts'),
  command,
];

/** Runs `stack.ts <command>` in a child process, output passed through. */
export function stack(command: StackCommand): void {
  execFileSync(process.execPath, stackArgs(command), { stdio: 'inherit', cwd: repoRoot });
}

/**
 * Starts `stack.ts <command>` without waiting, output passed through, so the caller can do other work meanwhile
 * (`npm test` runs its static checks and unit tier while a cold machine builds the servers). Resolves when it ends;
 * rejects if it fails.
 */
export function stackInBackground(command: StackCommand): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, stackArgs(command), { stdio: 'inherit', cwd: repoRoot });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`stack ${command} exited with ${code}`))));
  });
}
