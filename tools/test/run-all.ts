/**
 * `npm test`: the local stack comes up in the background (building its servers on a cold machine) while the static
 * checks and the unit tier run; then the integration and end-to-end tiers run against the real servers. Ends with one plain line, `N passed, N failed`, summing every tier, so a run that executed
 * no test is visible. Exits non-zero when anything failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../stack/paths';
import { stackInBackground } from '../stack/stack-control';

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

const total: Tally = { passed: 0, failed: 0, skipped: 0 };
const lines: string[] = [];

function say(message: string): void {
  process.stdout.write(`\n=== ${message}\n`);
}

function run(command: string, args: string[]): number {
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: 'inherit', env: process.env });
  return result.status ?? 1;
}

/** A static check counts as one test: it passes or fails as a whole. */
function check(name: string, command: string, args: string[]): void {
  say(name);
  const ok = run(command, args) === 0;
  if (ok) total.passed += 1;
  else total.failed += 1;
  lines.push(`${name}: ${ok ? 'passed' : 'FAILED'}`);
}

function tier(name: 'unit' | 'int' | 'e2e'): void {
  say(`${name} tier`);
  const out = join(mkdtempSync(join(tmpdir(), 'keel-vitest-')), 'report.json');
  const status = run(join(repoRoot, 'node_modules/.bin/vitest'), [
    'run',
    '--project',
    name,
    '--passWithNoTests',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${out}`,
  ]);
  const tally: Tally = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
    };
    tally.passed = report.numPassedTests;
    tally.failed = report.numFailedTests;
    tally.skipped = report.numPendingTests + report.numTodoTests;
  }
  // A crash before any test reported (a broken import, a failed global setup) still counts as a failure.
  if (status !== 0 && tally.failed === 0) tally.failed = 1;
  total.passed += tally.passed;
  total.failed += tally.failed;
  total.skipped += tally.skipped;
  lines.push(`${name} tier: ${tally.passed} passed, ${tally.failed} failed, ${tally.skipped} skipped`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const stackUp = stackInBackground('up');
  // Observed below, after the unit tier; until then a failure must not surface as an unhandled rejection.
  stackUp.catch(() => undefined);
  const nx = join(repoRoot, 'node_modules/.bin/nx');
  check('format (prettier)', join(repoRoot, 'node_modules/.bin/prettier'), ['--check', '.', '--log-level', 'warn']);
  check('typecheck (tsc strict)', join(repoRoot, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json']);
  // The module-boundary rule reads Nx's project graph, so compute it first.
  run(nx, ['show', 'projects']);
  check('lint (eslint, nx module boundaries)', join(repoRoot, 'node_modules/.bin/eslint'), ['.']);
  tier('unit');
  say('local stack');
  try {
    await stackUp;
    tier('int');
    tier('e2e');
  } catch (error) {
    total.failed += 1;
    lines.push(`local stack: FAILED (${error instanceof Error ? error.message : String(error)})`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
  process.stdout.write(`npm test took ${((Date.now() - started) / 60_000).toFixed(1)} min\n`);
  process.stdout.write(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
  process.exitCode = total.failed === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`npm test failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
