import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..', '..');
const GENERATED = join('libs', 'grpc-api', 'src', 'generated');

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

describe('generated gRPC code', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keel-grpc-api-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is what `npm run proto:generate` makes from proto/ today (run it and commit the result if this fails)', () => {
    execFileSync(require.resolve('@bufbuild/buf/bin/buf'), ['generate', '--output', scratch], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const fresh = files(join(scratch, GENERATED));
    const committed = files(join(ROOT, GENERATED));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect(committed.get(path), path).toBe(text);
  }, 60_000);
});
