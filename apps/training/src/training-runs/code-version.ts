import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * What code trained a model, recorded in every package's lineage and every experiment run:
 * `git:<commit>` (`+dirty` when tracked files differ from it) inside a git checkout, otherwise
 * `<name>@<version>+build.<sha256 prefix of the code>` (an image built without `.git`). Never a constant, so two
 * builds that could train differently never claim the same version.
 */
export function detectCodeVersion(from: string = __dirname): string {
  const root = findRoot(from);
  if (!root) return `keel-training+build.${hashTree([join(from, '..')], join(from, '..'))}`;
  const git = gitVersion(root);
  if (git) return git;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
  return `${pkg.name ?? 'keel'}@${pkg.version ?? '0.0.0'}+build.${hashTree([join(root, 'apps', 'training'), join(root, 'libs')], root)}`;
}

/** The nearest directory upwards holding a package.json with workspaces-level content (the repository or image root). */
function findRoot(from: string): string | undefined {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'apps'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function gitVersion(root: string): string | undefined {
  try {
    const run = (...args: string[]) =>
      execFileSync('git', ['-C', root, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5_000,
      });
    const commit = run('rev-parse', 'HEAD').trim();
    if (!/^[0-9a-f]{40}$/.test(commit)) return undefined;
    const dirty = run('status', '--porcelain', '--untracked-files=no').trim() !== '';
    return `git:${commit}${dirty ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

/** sha256 (first 12 hex digits) over the code files under `dirs`, by path relative to `root`, in sorted order. */
function hashTree(dirs: readonly string[], root: string): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|js|mjs|cjs|json)$/.test(entry.name) && !/\.spec\.[tj]s$/.test(entry.name)) files.push(path);
    }
  };
  dirs.forEach(walk);
  const hash = createHash('sha256');
  for (const file of files.sort())
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 12);
}
