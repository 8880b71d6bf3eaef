import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { detectCodeVersion } from './code-version';

describe('detectCodeVersion', () => {
  it('given this checkout, then it names the commit git has checked out', () => {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(detectCodeVersion()).toMatch(new RegExp(`^git:${head}(\\+dirty)?$`));
  });

  it('given a build without .git, then the package version and a hash of the code, which changes with the code', () => {
    const root = mkdtempSync(join(tmpdir(), 'keel-code-version-'));
    const src = join(root, 'apps', 'training', 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'keel', version: '1.2.3' }));
    writeFileSync(join(src, 'main.js'), 'one');
    const first = detectCodeVersion(src);
    expect(first).toMatch(/^keel@1\.2\.3\+build\.[0-9a-f]{12}$/);
    expect(detectCodeVersion(src)).toBe(first);
    writeFileSync(join(src, 'main.js'), 'two');
    expect(detectCodeVersion(src)).not.toBe(first);
  });
});
