// The publishable build: `npm run build` writes ES modules and declarations with a package.json
// whose exports point at them; a project that installs it (here: copies it into node_modules)
// imports it on plain Node, without TypeScript, and type-checks against its declarations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));

test('the build is an installable ESM package with types', { timeout: 120_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'tradewatch-client-build-'));
  try {
    const dist = join(work, 'dist');
    execFileSync(process.execPath, [join(root, 'scripts/build.ts'), dist], { stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.name, '@tradewatch/client');
    assert.equal(manifest.type, 'module');
    assert.deepEqual(manifest.exports, { '.': { types: './index.d.ts', default: './index.js' } });
    assert.equal(manifest.scripts, undefined);

    const app = join(work, 'app');
    mkdirSync(join(app, 'node_modules/@tradewatch'), { recursive: true });
    cpSync(dist, join(app, 'node_modules/@tradewatch/client'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    writeFileSync(
      join(app, 'main.js'),
      "import { TradewatchClient, TradewatchClientError } from '@tradewatch/client';\n" +
        "const c = new TradewatchClient({ url: 'http://127.0.0.1:9', token: 't' });\n" +
        'await c.close();\nconsole.log(typeof TradewatchClient, typeof TradewatchClientError, c.stats().pending);\n',
    );
    // Plain JavaScript on Node, with type stripping off: nothing TypeScript is left in the build.
    const out = execFileSync(process.execPath, ['--no-experimental-strip-types', 'main.js'], { cwd: app });
    assert.equal(out.toString().trim(), 'function function 0');

    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          types: [],
        },
        include: ['check.ts'],
      }),
    );
    writeFileSync(
      join(app, 'check.ts'),
      "import { TradewatchClient, type EventOutcome } from '@tradewatch/client';\n" +
        "const c = new TradewatchClient({ url: 'http://127.0.0.1:9', token: 't' });\n" +
        "const o: Promise<EventOutcome[]> = c.send({ type: 'login', userId: 'u', ts: new Date(), ip: '1.2.3.4' });\n" +
        'void o;\n' +
        '// @ts-expect-error a trade needs an amount\n' +
        "void c.send({ type: 'trade', userId: 'u', ts: 1 });\n",
    );
    execFileSync(process.execPath, [tsc, '-p', app], { stdio: 'pipe' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
