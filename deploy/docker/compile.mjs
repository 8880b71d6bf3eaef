/* global process, console */
// Compiles the services and libraries to JavaScript for the image, the one build both the Dockerfile and the image
// check (tools/deploy-checks/image.int.spec.ts) run:
//   node deploy/docker/compile.mjs <out dir>
// <out dir> gets apps/ and libs/ as CommonJS (tsc, so NestJS keeps its decorator metadata), package.json and the
// lock for `npm ci --omit=dev`, and node_modules/@keel/<lib> entry points standing in for tsconfig's path aliases.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
if (!out) {
  console.error('usage: node deploy/docker/compile.mjs <out dir>');
  process.exit(2);
}

rmSync(join(out, 'apps'), { recursive: true, force: true });
rmSync(join(out, 'libs'), { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    join(root, 'deploy/docker/tsconfig.build.json'),
    '--outDir',
    out,
  ],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

for (const file of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(root, file), join(out, file));

// Only test code imports @keel/testing, and it is not compiled.
const { paths } = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8')).compilerOptions;
for (const [name, [target]] of Object.entries(paths)) {
  if (name === '@keel/testing') continue;
  const packageDir = join(out, 'node_modules', name);
  const entry = join(out, target.replace(/\.ts$/, '.js'));
  mkdirSync(packageDir, { recursive: true });
  writeFileSync(join(packageDir, 'package.json'), `${JSON.stringify({ name, private: true, main: 'index.js' })}\n`);
  writeFileSync(
    join(packageDir, 'index.js'),
    `module.exports = require(${JSON.stringify(relative(packageDir, entry))});\n`,
  );
}
console.log(`compiled to ${out}`);
