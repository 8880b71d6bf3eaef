import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): void {
  execFileSync(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
}

const goEnv = { CGO_ENABLED: '0', GOFLAGS: '-trimpath' };

/**
 * Builds a Go command as a dependency of a throwaway module. That route (rather than `go install pkg@version`) keeps
 * upstream's generated files and lets us replay replace directives, which `go install` refuses.
 */
export function buildGoTool(opts: {
  module: string;
  version: string;
  pkg: string;
  output: string;
  replaces?: readonly string[];
  /** Files written into a local copy of the module before building (generated files its zip lacks). */
  generatedFiles?: Readonly<Record<string, string>>;
}): void {
  if (existsSync(opts.output)) return;
  const work = mkdtempSync(join(tmpdir(), 'keel-go-'));
  try {
    run('go', ['mod', 'init', 'keel.local/build'], work, goEnv);
    for (const replace of opts.replaces ?? []) run('go', ['mod', 'edit', `-replace=${replace}`], work, goEnv);
    if (opts.generatedFiles) {
      const downloaded = JSON.parse(
        execFileSync('go', ['mod', 'download', '-json', `${opts.module}@${opts.version}`], {
          cwd: work,
          encoding: 'utf8',
          env: { ...process.env, ...goEnv },
        }),
      ) as { Dir: string };
      const copy = join(work, 'module-src');
      cpSync(downloaded.Dir, copy, { recursive: true });
      makeWritable(copy);
      for (const [file, content] of Object.entries(opts.generatedFiles)) writeFileSync(join(copy, file), content);
      run('go', ['mod', 'edit', `-replace=${opts.module}=./module-src`], work, goEnv);
    }
    run('go', ['get', '-tool', `${opts.pkg}@${opts.version}`], work, goEnv);
    mkdirSync(dirname(opts.output), { recursive: true });
    // Build to a temporary name and rename: an interrupted build never leaves a half-written binary in the cache.
    run('go', ['build', '-o', `${opts.output}.partial`, opts.pkg], work, goEnv);
    renameSync(`${opts.output}.partial`, opts.output);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The module cache is read-only; the patched copy must not be. */
function makeWritable(dir: string): void {
  execFileSync('chmod', ['-R', 'u+w', dir]);
}

/** `go install module@version` for modules without replace directives (MinIO). */
export function installGoModule(opts: { pkg: string; version: string; output: string }): void {
  if (existsSync(opts.output)) return;
  const binDir = `${dirname(opts.output)}.partial`;
  rmSync(binDir, { recursive: true, force: true });
  mkdirSync(binDir, { recursive: true });
  run('go', ['install', `${opts.pkg}@${opts.version}`], binDir, { ...goEnv, GOBIN: binDir });
  mkdirSync(dirname(opts.output), { recursive: true });
  const built = join(binDir, opts.pkg.split('/').pop() as string);
  renameSync(built, opts.output);
  rmSync(binDir, { recursive: true, force: true });
}

/** Resolves runtime jars with Maven from the POM kept in the repository (deploy/local/kafka/pom.xml). */
export function resolveMavenJars(opts: { pom: string; libsDir: string; marker: string }): void {
  if (existsSync(join(opts.libsDir, opts.marker))) return;
  const partial = `${opts.libsDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  run(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      opts.pom,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${partial}`,
    ],
    dirname(opts.pom),
  );
  rmSync(opts.libsDir, { recursive: true, force: true });
  mkdirSync(dirname(opts.libsDir), { recursive: true });
  renameSync(partial, opts.libsDir);
}
