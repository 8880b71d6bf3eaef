import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot, repoRoot } from '../stack/paths';

const run = promisify(execFile);

/** The Go tool's source (tools/deploy-checks/kube-check): k8s.io/api strict decoding + sigs.k8s.io/kustomize. */
const SOURCE_DIR = join(repoRoot, 'tools/deploy-checks/kube-check');
const SOURCE_FILES = ['go.mod', 'go.sum', 'main.go'];

/** One rendered kustomization: its objects as the API would receive them and what strict decoding objected to. */
export interface RenderedKustomization {
  dir: string;
  objects: KubeObject[];
  problems: string[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * Path of the built tool, building it first when the cache lacks this version of its source. Cached outside the
 * repository like the stack's servers (KEEL_CACHE_DIR), keyed by a hash of the source, modules from the Go proxy.
 */
export async function kubeCheckBinary(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of SOURCE_FILES) hash.update(file).update(readFileSync(join(SOURCE_DIR, file)));
  const dir = join(cacheRoot, 'tools', `kube-check-${hash.digest('hex').slice(0, 16)}`);
  const binary = join(dir, 'kube-check');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  // Built beside its final name and renamed, so a concurrent run never executes a half-written binary.
  const partial = `${binary}.${process.pid}.partial`;
  await run('go', ['build', '-trimpath', '-o', partial, '.'], {
    cwd: SOURCE_DIR,
    env: { ...process.env, CGO_ENABLED: '0' },
    maxBuffer: 16 * 1024 * 1024,
  });
  renameSync(partial, binary);
  return binary;
}

/** Renders each kustomization directory and decodes every object strictly against the Kubernetes API types. */
export async function renderKustomizations(dirs: readonly string[]): Promise<RenderedKustomization[]> {
  const binary = await kubeCheckBinary();
  let stdout: string;
  try {
    ({ stdout } = await run(binary, [...dirs], { maxBuffer: 64 * 1024 * 1024 }));
  } catch (error) {
    // Exit 1 means problems were found; the report is still on stdout.
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (failed.code !== 1 || !failed.stdout) throw new Error(`kube-check failed: ${failed.stderr ?? String(error)}`);
    stdout = failed.stdout;
  }
  return JSON.parse(stdout) as RenderedKustomization[];
}
