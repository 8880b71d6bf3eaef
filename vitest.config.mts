import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Path aliases come from the one place they are declared, tsconfig.base.json.
const base = JSON.parse(readFileSync(resolve(import.meta.dirname, 'tsconfig.base.json'), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const alias = Object.fromEntries(
  Object.entries(base.compilerOptions.paths).map(([name, [target]]) => [name, resolve(import.meta.dirname, target)]),
);

/** Runs after every other e2e file: the bundled demo must still work on a stack the e2e suite has used. */
const LAST_E2E_FILE = resolve(import.meta.dirname, 'tools/e2e/demo-runs-twice.e2e.spec.ts');

/**
 * Vitest's own order (projects by name; within one, by the previous run's results and file size), except that the
 * e2e files, which share one stack and its state, run in a fixed order: by path, LAST_E2E_FILE last.
 */
class E2eInFixedOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => (file.moduleId === LAST_E2E_FILE ? 1 : 0);
    const e2e = sorted
      .filter((file) => file.project.name === 'e2e')
      .sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
    let next = 0;
    return sorted.map((file) => (file.project.name === 'e2e' ? e2e[next++] : file));
  }
}

export default defineConfig({
  // SWC rather than esbuild: NestJS dependency injection needs emitted decorator metadata.
  plugins: [swc.vite({ module: { type: 'es6' }, jsc: { target: 'es2023' } })],
  resolve: { alias },
  test: {
    sequence: { sequencer: E2eInFixedOrder },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['{apps,libs,tools}/**/*.unit.spec.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['{apps,libs,tools}/**/*.int.spec.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['{apps,libs,tools}/**/*.e2e.spec.ts'],
          globalSetup: ['tools/test/e2e-global-setup.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
