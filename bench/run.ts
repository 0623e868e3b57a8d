// `npm run bench [-- <part> ...]`: runs every bench/<part>-bench.ts (or only the named parts), one
// after another — benchmarks share a 2-core machine with the broker, so never two at once. Each
// bench is a plain script that writes bench/results/<part>.json and prints its own summary.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const SUFFIX = '-bench.ts';

const available = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith(SUFFIX))
  .map((f) => f.slice(0, -SUFFIX.length))
  .sort();
const wanted = process.argv.slice(2).map((a) => a.replace(/-bench(\.ts)?$/, ''));
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`bench: no bench named ${unknown.join(', ')} (have: ${available.join(', ')})\n`);
  process.exit(2);
}
const parts = wanted.length > 0 ? wanted : available;
if (parts.length === 0) {
  process.stderr.write('bench: no bench/*-bench.ts found\n');
  process.exit(2);
}

const runPart = (part: string): Promise<number> =>
  new Promise((resolve) => {
    process.stdout.write(`\n== bench ${part}\n`);
    const child = spawn(process.execPath, [join(BENCH_DIR, `${part}${SUFFIX}`)], { stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });

const failed: string[] = [];
for (const part of parts) {
  if ((await runPart(part)) !== 0) failed.push(part);
}
if (failed.length > 0) {
  process.stderr.write(`bench: FAILED: ${failed.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(`\nbench: done (${parts.join(', ')}); results in bench/results/\n`);
