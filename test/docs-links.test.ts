// The repository stands alone: every relative link in every Markdown file resolves to a file in
// it (and to a heading, when it names one), every document a source file names exists, and
// nothing points outside the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './support/harness.ts';

const tracked = (pattern: string): string[] =>
  execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', pattern], { cwd: ROOT })
    .toString()
    .split('\n')
    .filter((f) => f !== '' && existsSync(join(ROOT, f)));

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

const anchorsOf = (file: string): Set<string> => {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) out.add(slug(m[1]!));
  return out;
};

const linksOf = (text: string): string[] => {
  const body = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...body.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
};

test('every relative link in the Markdown files resolves inside the repository', () => {
  const problems: string[] = [];
  const files = tracked('*.md');
  assert.ok(files.length > 5, `found ${files.length} Markdown files`);
  for (const file of files) {
    const abs = join(ROOT, file);
    for (const link of linksOf(readFileSync(abs, 'utf8'))) {
      if (/^(https?:|mailto:)/.test(link)) continue;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? abs : resolve(dirname(abs), decodeURIComponent(path));
      const rel = relative(ROOT, target);
      if (rel.startsWith('..')) {
        problems.push(`${file}: ${link} points outside the repository`);
      } else if (!existsSync(target)) {
        problems.push(`${file}: ${link} does not exist`);
      } else if (anchor !== undefined && statSync(target).isFile() && target.endsWith('.md')) {
        if (!anchorsOf(target).has(anchor)) problems.push(`${file}: ${link} names no heading of ${rel}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('every document named in the code exists, and nothing names a place outside the repository', () => {
  const problems: string[] = [];
  const files = tracked('*.ts').concat(tracked('*.tsx'), tracked('*.sh'), tracked('*.yml'));
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    if (file === 'test/docs-links.test.ts') continue;
    if (/SPEC\.md|SPEC §|CLICKHOUSE-18\.md/.test(text))
      problems.push(`${file}: names a document outside the repository`);
    for (const m of text.matchAll(/(?:\.\.\/)+[\w.-]+/g)) {
      if (relative(ROOT, resolve(dirname(join(ROOT, file)), m[0])).startsWith('..')) {
        problems.push(`${file}: ${m[0]} is outside the repository`);
      }
    }
    for (const m of text.matchAll(
      /\b((?:docs|services\/[\w-]+|infra|shared|packages\/[\w-]+)\/[\w./-]*\.md)\b/g,
    )) {
      if (!existsSync(join(ROOT, m[1]!))) problems.push(`${file}: ${m[1]} does not exist`);
    }
  }
  assert.deepEqual(problems, []);
});
