// The configuration reference (docs/configuration.md) against the code: every variable it names
// is read somewhere, and every default it states is the default the code gives; and the topic
// table of docs/operators.md against shared/src/topology.ts. The code is the
// one list (each service's src/config.ts, shared/src, and the config modules of npm start,
// scripts/stack-config.ts, and of the benchmarks, bench/bench-config.ts); this keeps the page
// from drifting from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as topology from '@tradewatch/shared/topology';
import { loadStackConfig } from '../scripts/stack-config.ts';
import { ROOT } from './support/harness.ts';

const sources = (): { file: string; text: string }[] => {
  const files = [
    ...readdirSync(join(ROOT, 'services')).map((s) => `services/${s}/src/config.ts`),
    ...readdirSync(join(ROOT, 'shared/src'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `shared/src/${f}`),
    'scripts/stack-config.ts',
    'bench/bench-config.ts',
  ];
  return files.flatMap((file) => {
    try {
      return [{ file, text: readFileSync(join(ROOT, file), 'utf8') }];
    } catch {
      return [];
    }
  });
};

/** Defaults the config modules share by name: the topology's topic names (DEFAULT_EVENTS_TOPIC, ...). */
const NAMED = new Map<string, string>(
  Object.entries(topology).flatMap(([name, value]: [string, unknown]) =>
    typeof value === 'string' ? [[name, value] as const] : [],
  ),
);

/**
 * The value of a default written as a literal (a number or a product of numbers, a string, a
 * boolean) or as one of the shared named defaults.
 */
const literal = (expr: string): string | undefined => {
  const e = expr.trim();
  if (NAMED.has(e)) return NAMED.get(e);
  if (/^\d+(\s*\*\s*\d+)*$/.test(e)) return String(e.split('*').reduce((p, n) => p * Number(n), 1));
  const quoted = /^'([^'\\]*)'$/.exec(e) ?? /^"([^"\\]*)"$/.exec(e);
  if (quoted !== null) return quoted[1];
  if (e === 'true' || e === 'false') return e;
  return undefined;
};

/** Every default the code gives `name`: `r.int('NAME', 500, …)`, `env.NAME ?? '6'` and the like. */
const codeDefaults = (name: string, code: { file: string; text: string }[]) => {
  const found: { file: string; value: string | undefined }[] = [];
  const reader = new RegExp(`\\(\\s*'${name}'\\s*,\\s*([^,)]+)`, 'g');
  const fallback = new RegExp(`env\\.${name}\\s*\\?\\?\\s*('[^']*'|\\d+)`, 'g');
  const named = new RegExp(`['.]${name}\\b`);
  for (const { file, text } of code) {
    for (const m of text.matchAll(reader)) found.push({ file, value: literal(m[1]!) });
    for (const m of text.matchAll(fallback)) found.push({ file, value: literal(m[1]!) });
    if (found.every((f) => f.file !== file) && named.test(text)) found.push({ file, value: undefined });
  }
  return found;
};

/** The rows of the reference: each variable with the default the page gives it. */
const documented = (): { name: string; stated: string }[] => {
  const page = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
  const rows: { name: string; stated: string }[] = [];
  for (const line of page.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const names = cells[1]!.split(' / ').map((n) => n.replace(/`/g, '').trim());
    const defaults = cells[2]!.split(' / ').map((d) => d.trim());
    names.forEach((name, i) => rows.push({ name, stated: defaults[i] ?? defaults[0]! }));
  }
  return rows;
};

test('every variable of docs/configuration.md is read by the code, with the default the page states', () => {
  const code = sources();
  const rows = documented();
  assert.ok(rows.length >= 20, `the reference lists its variables (${rows.length} read)`);
  const problems: string[] = [];
  for (const { name, stated } of rows) {
    const found = codeDefaults(name, code);
    if (found.length === 0) {
      problems.push(`${name}: documented, but no code reads it`);
      continue;
    }
    // A default stated as a value must be the code's; words (unset, random, —) are not compared.
    const value = /^`([^`]*)`$/.exec(stated)?.[1];
    if (value === undefined) continue;
    const literals = found.filter((f) => f.value !== undefined);
    if (literals.length === 0) continue; // computed in code (another setting, a constant)
    const wrong = literals.filter((f) => f.value !== value);
    if (wrong.length > 0) {
      problems.push(
        `${name}: the page says ${value}, the code ${wrong.map((w) => `${w.value} (${w.file})`).join(', ')}`,
      );
    }
  }
  assert.deepEqual(problems, []);
});

/** The rows of the topic table of docs/operators.md: topic name and partitions, as written. */
const topicTable = (): Map<string, string> => {
  const page = readFileSync(join(ROOT, 'docs/operators.md'), 'utf8');
  const section = page.slice(page.indexOf('## Topics'), page.indexOf('\n## ', page.indexOf('## Topics') + 1));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name !== undefined) rows.set(name, cells[2]!);
  }
  return rows;
};

test('the topic table of docs/operators.md lists every topic of the topology, with its partitions', () => {
  const { DEFAULT_EVENTS_TOPIC } = topology;
  const names: Record<topology.TopicRole, string> = {
    events: DEFAULT_EVENTS_TOPIC,
    alerts: topology.DEFAULT_ALERTS_TOPIC,
    shadowAlerts: topology.DEFAULT_SHADOW_ALERTS_TOPIC,
    rules: topology.DEFAULT_RULES_TOPIC,
    labels: topology.DEFAULT_LABELS_TOPIC,
    changelog: topology.defaultChangelogTopic('<group>'),
    deadLetters: topology.DEFAULT_DEAD_LETTER_TOPIC,
    sandbox: topology.defaultSandboxTopic('<events>'),
  };
  const expected = new Map(
    topology.TOPIC_ROLES.map((role) => {
      const { partitions } = topology.TOPOLOGY[role];
      const stated =
        role === 'events'
          ? String(loadStackConfig({}, ROOT).eventsPartitions)
          : partitions === 'events'
            ? `as \`${DEFAULT_EVENTS_TOPIC}\``
            : String(partitions);
      return [names[role], stated];
    }),
  );
  assert.deepEqual(topicTable(), expected);
});
