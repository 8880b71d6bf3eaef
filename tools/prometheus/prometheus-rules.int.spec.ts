/**
 * deploy/prometheus: the rules parse and pass their promtool unit tests, and every metric they use is one a Keel
 * service registers (so no rule watches a series that never exists).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/paths';
import { ensurePromtool, promtool } from './promtool';

const RULES_DIR = join(repoRoot, 'deploy', 'prometheus');
const RULES = 'keel-alerts.rules.yml';

/** Metric names registered in the apps' and libs' sources (`name: 'keel_...'`). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (entry === 'node_modules') continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.includes('.spec.'))
        for (const match of readFileSync(path, 'utf8').matchAll(/name: '(keel_[a-z0-9_]+)'/g)) names.add(match[1]);
    }
  };
  walk(join(repoRoot, 'apps'));
  walk(join(repoRoot, 'libs'));
  return names;
}

describe('Prometheus rules', () => {
  it('use only metrics the services export', () => {
    const rules = parse(readFileSync(join(RULES_DIR, RULES), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const exported = exportedMetrics();
    const used = rules.groups.flatMap((group) =>
      group.rules.flatMap((rule) => [...rule.expr.matchAll(/\b(keel_[a-z0-9_]+)/g)].map((m) => [rule.alert, m[1]])),
    );
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter(([, metric]) => !exported.has(metric))).toEqual([]);
  });

  it('pass promtool check rules and their promtool unit tests', async () => {
    await ensurePromtool((line) => process.stdout.write(`${line}\n`));
    expect(await promtool(['check', 'rules', RULES], RULES_DIR)).toMatch(/SUCCESS: \d+ rules found/);
    expect(await promtool(['test', 'rules', 'keel-alerts.test.yml'], RULES_DIR)).toContain('SUCCESS');
  }, 1_800_000);
});
