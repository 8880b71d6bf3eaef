import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Repository root (this file lives in tools/stack). */
export const repoRoot = resolve(__dirname, '..', '..');

/**
 * Built servers are cached outside the repository, keyed by version, so a clean clone on a warm machine starts in
 * seconds and nothing built is ever committed. KEEL_CACHE_DIR overrides the location.
 */
export const cacheRoot = process.env.KEEL_CACHE_DIR ?? join(homedir(), '.cache', 'keel');

/** Runtime state (data directories, logs, PID files) of the running local stack. */
export const runRoot = process.env.KEEL_STACK_DIR ?? join(cacheRoot, 'stack');
