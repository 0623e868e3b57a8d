// Builds the publishable package into dist/ (or the directory given): ES2022 JavaScript and type
// declarations from src/, a package.json whose exports point at them, and the README.
// Publish with `npm publish packages/client/dist`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const tsc = join(root, '../../node_modules/typescript/bin/tsc');

rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], {
  stdio: 'inherit',
});

// tsc rewrites './x.ts' to './x.js' in JavaScript only: declarations get the same, for any consumer.
for (const file of readdirSync(out).filter((f) => f.endsWith('.d.ts'))) {
  const path = join(out, file);
  writeFileSync(path, readFileSync(path, 'utf8').replace(/(from '\.\/[\w-]+)\.ts'/g, "$1.js'"));
}

const source = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
const { scripts: _scripts, exports: _exports, ...meta } = source;
const manifest: Record<string, unknown> = {
  ...meta,
  exports: { '.': { types: './index.d.ts', default: './index.js' } },
  types: './index.d.ts',
  sideEffects: false,
};
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(join(root, 'README.md'), join(out, 'README.md'));
process.stdout.write(`built ${String(manifest.name)} ${String(manifest.version)} into ${out}\n`);
