import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, mongoUrlForDatabase } from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/paths';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * What deploy/docker/Dockerfile does, without Docker: the build stage's compile into a fresh directory, production
 * dependencies only installed there, and a service started from the compiled JavaScript with plain `node` (no
 * TypeScript loader), against the local stack, as the image's CMD starts it.
 */
describe('the service image, built without Docker', () => {
  const out = mkdtempSync(join(tmpdir(), 'keel-image-'));
  let service: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    // In the Dockerfile's order: production dependencies installed first, the compiled output copied over them
    // (npm ci would remove the node_modules/@keel entry points the compile writes).
    for (const file of ['package.json', 'package-lock.json', '.npmrc'])
      copyFileSync(join(repoRoot, file), join(out, file));
    await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], {
      cwd: out,
      env: { ...process.env, NODE_ENV: 'production' },
      maxBuffer: 16 * 1024 * 1024,
    });
    await run(process.execPath, [join(repoRoot, 'deploy/docker/compile.mjs'), out], { maxBuffer: 16 * 1024 * 1024 });
  }, 900_000);

  afterAll(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGKILL');
      await new Promise((resolve) => service!.once('exit', resolve));
    }
    rmSync(out, { recursive: true, force: true });
  });

  it('has compiled JavaScript and production dependencies only', () => {
    expect(existsSync(join(out, 'apps/registry/src/main.js'))).toBe(true);
    expect(existsSync(join(out, 'apps/registry/src/main.ts'))).toBe(false);
    expect(existsSync(join(out, 'node_modules/@nestjs/core'))).toBe(true);
    for (const devDependency of ['typescript', '@swc-node/register', 'vitest', 'eslint']) {
      expect(existsSync(join(out, 'node_modules', devDependency)), devDependency).toBe(false);
    }
  });

  it('starts a service with node from the compiled output; it answers live and ready, and stops on SIGTERM', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    service = spawn(process.execPath, ['--enable-source-maps', 'apps/registry/src/main.js'], {
      cwd: out,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        HTTP_PORT: String(httpPort),
        GRPC_PORT: String(grpcPort),
        MONGO_URL: mongoUrlForDatabase('keel_it_image_check'),
        OTEL_SDK_DISABLED: 'true',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    service.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => service!.once('exit', resolve));
    const exitedEarly = exited.then((code) => {
      throw new Error(`the service exited (${code}): ${output}`);
    });
    exitedEarly.catch(() => undefined);

    const live = await Promise.race([
      eventually(
        'the compiled registry to answer /health/live',
        () => fetch(`http://127.0.0.1:${httpPort}/health/live`),
        { timeoutMs: 90_000 },
      ),
      exitedEarly,
    ]);
    expect(live.status).toBe(200);
    const ready = await Promise.race([
      eventually(
        'the compiled registry to be ready',
        async () => {
          const response = await fetch(`http://127.0.0.1:${httpPort}/health/ready`);
          if (response.status !== 200) throw new Error(`not ready: ${response.status}`);
          return response;
        },
        { timeoutMs: 60_000 },
      ),
      exitedEarly,
    ]);
    expect(ready.status).toBe(200);

    service.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/"level":"fatal"|Cannot find module/);
  }, 180_000);
});
