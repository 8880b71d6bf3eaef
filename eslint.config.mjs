import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.nx/**', '**/coverage/**', '**/*.js', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          // The testing lib builds on the libs whose specs use it; those spec-only edges are not real cycles.
          ignoredCircularDependencies: [
            ['testing', 'tag:type:lib'],
            ['tag:type:lib', 'testing'],
          ],
          depConstraints: [
            // Apps never import apps: only libs (and proto/ files, which are not a project).
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib', 'type:testing'] },
            // Libs may use the testing lib in their specs only (see no-restricted-imports below).
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib', 'type:testing'] },
            // The harness starts services and fakes their boundaries, so it builds on the libs.
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib'] },
            // Contracts are the bottom of the graph.
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
            // The ML and statistics core is framework-free so it can be tested and benchmarked alone.
            {
              sourceTag: 'runtime:framework-free',
              onlyDependOnLibsWithTags: ['runtime:framework-free'],
              bannedExternalImports: ['@nestjs/*', 'kafkajs', 'mongoose', 'minio'],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    ignores: ['**/*.spec.ts', 'libs/testing/**', '**/test-support/**'],
    rules: {
      'no-console': 'error',
      'no-restricted-imports': [
        'error',
        { paths: [{ name: '@keel/testing', message: 'Test helpers belong in specs.' }] },
      ],
    },
  },
  {
    // Monitoring's data flows one way, predictions → drift: the prediction log hands rows on, nothing calls back.
    files: ['apps/monitoring/src/drift/**/*.ts', 'apps/monitoring/src/labels/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)predictions/', message: 'drift/ and labels/ never import predictions/.' }] },
      ],
    },
  },
  prettier,
);
