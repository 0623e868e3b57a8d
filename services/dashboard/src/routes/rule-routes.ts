// Rule management (role admin; docs/rules.md): the rules with every version, the version in force
// now and the alerts of each version; a new version from a definition (PUT), or from an existing
// version with another mode (activate, shadow, disable); active vs shadow on the same trades;
// backtests with their progress. Every change is a new version: nothing is edited or removed.
import type { FastifyInstance } from 'fastify';
import { candidateFrom } from '@tradewatch/shared/backtest';
import { isRuleId, nextRuleVersion, RuleBook, type RuleMode } from '@tradewatch/shared/rules';
import type { RuleView } from '../api-types.ts';
import type { BacktestJobs } from '../backtest-jobs.ts';
import type { DeskArchive } from '../desk-archive.ts';
import { DeskError } from '../errors.ts';
import { requireUser } from '../plugins/auth.ts';
import type { RuleRegistry } from '../rule-registry.ts';
import { optionalInt, type Query } from './query-params.ts';

export interface RuleRoutesOptions {
  rules: RuleRegistry;
  archive: DeskArchive;
  backtests: BacktestJobs;
  now?: () => number;
}

const ACTIONS: Readonly<Record<string, RuleMode>> = {
  activate: 'active',
  shadow: 'shadow',
  disable: 'disabled',
};
const MAX_EPOCH_MS = 4294967295000;

const ruleIdOf = (raw: string): string => {
  if (!isRuleId(raw)) {
    throw new DeskError('bad_request', 'a rule id is 1-64 of a-z 0-9 . _ -, starting with a letter or digit');
  }
  return raw;
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The body of activate / shadow / disable: which version to copy, why, from when. */
const readModeChange = (body: unknown) => {
  const problems: string[] = [];
  if (!isObject(body)) throw new DeskError('bad_request', 'send {"reason", "version"?, "effectiveFrom"?}');
  for (const k of Object.keys(body)) {
    if (!['version', 'reason', 'effectiveFrom'].includes(k)) problems.push(`/${k}: unknown field`);
  }
  const { version, effectiveFrom } = body;
  if (version !== undefined && !(Number.isSafeInteger(version) && (version as number) >= 1)) {
    problems.push('/version: expected a version number');
  }
  if (
    effectiveFrom !== undefined &&
    !(
      Number.isSafeInteger(effectiveFrom) &&
      (effectiveFrom as number) >= 0 &&
      (effectiveFrom as number) <= MAX_EPOCH_MS
    )
  ) {
    problems.push('/effectiveFrom: expected epoch ms');
  }
  if (problems.length > 0) throw new DeskError('bad_request', problems.join('; '));
  return {
    version: version as number | undefined,
    reason: body.reason,
    effectiveFrom: effectiveFrom as number | undefined,
  };
};

export const ruleRoutes = (app: FastifyInstance, o: RuleRoutesOptions): void => {
  const now = o.now ?? Date.now;

  app.get('/api/rules', async (req) => {
    requireUser(req, 'manage_rules');
    const [versions, counts] = await Promise.all([o.rules.versions(), o.archive.ruleAlertCounts()]);
    const book = new RuleBook(versions);
    const rules: RuleView[] = book.ruleIds().map((ruleId) => {
      const all = [...book.versions(ruleId)];
      const inForce = book.applicable(ruleId, now());
      return {
        ...all[0]!,
        versions: all,
        inForce: { active: inForce.active?.version ?? null, shadow: inForce.shadow?.version ?? null },
        alerts: counts
          .filter((c) => c.rule === ruleId)
          .map((c) => ({ version: c.ruleVersion, alerts: c.alerts, shadowAlerts: c.shadowAlerts })),
      };
    });
    return { rules };
  });

  app.put<{ Params: { ruleId: string }; Body: unknown }>('/api/rules/:ruleId', async (req, reply) => {
    const user = requireUser(req, 'manage_rules');
    const ruleId = ruleIdOf(req.params.ruleId);
    const stored = await o.rules.change((all) =>
      nextRuleVersion(
        ruleId,
        req.body,
        all.filter((v) => v.ruleId === ruleId),
        user.name,
        now(),
      ),
    );
    req.log.info(
      { ruleId, version: stored.version, mode: stored.mode, author: user.name },
      'rule version created',
    );
    return reply.code(201).send(stored);
  });

  app.post<{ Params: { ruleId: string; action: string }; Body: unknown }>(
    '/api/rules/:ruleId/:action',
    async (req, reply) => {
      const user = requireUser(req, 'manage_rules');
      const ruleId = ruleIdOf(req.params.ruleId);
      const mode = ACTIONS[req.params.action];
      if (mode === undefined)
        throw new DeskError('not_found', `no action ${req.params.action}: activate, shadow or disable`);
      const change = readModeChange(req.body);
      const stored = await o.rules.change((all) => {
        const versions = all.filter((v) => v.ruleId === ruleId);
        if (versions.length === 0) throw new DeskError('not_found', `no rule ${ruleId}`);
        const from =
          change.version === undefined
            ? versions.reduce((a, b) => (b.version > a.version ? b : a))
            : versions.find((v) => v.version === change.version);
        if (from === undefined)
          throw new DeskError('not_found', `rule ${ruleId} has no version ${change.version}`);
        return nextRuleVersion(
          ruleId,
          {
            type: from.type,
            mode,
            params: from.params,
            reason: change.reason,
            ...(change.effectiveFrom === undefined ? {} : { effectiveFrom: change.effectiveFrom }),
          },
          versions,
          user.name,
          now(),
        );
      });
      req.log.info({ ruleId, version: stored.version, mode, author: user.name }, 'rule mode changed');
      return reply.code(201).send(stored);
    },
  );

  app.get<{ Params: { ruleId: string } }>('/api/rules/:ruleId/comparison', async (req) => {
    requireUser(req, 'manage_rules');
    const ruleId = ruleIdOf(req.params.ruleId);
    const limit = optionalInt(req.query as Query, 'limit', 1, 1000) ?? 100;
    return { ruleId, trades: await o.archive.shadowComparison(ruleId, limit) };
  });

  app.post<{ Body: unknown }>('/api/backtests', async (req, reply) => {
    const user = requireUser(req, 'manage_rules');
    const body = req.body;
    if (!isObject(body))
      throw new DeskError('bad_request', 'send {"rule": {...}, "from": <epoch ms>, "to": <epoch ms>}');
    const problems = Object.keys(body)
      .filter((k) => !['rule', 'from', 'to'].includes(k))
      .map((k) => `/${k}: unknown field`);
    const time = (k: 'from' | 'to') => {
      const v = body[k];
      if (Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_EPOCH_MS) return v as number;
      problems.push(`/${k}: expected epoch ms`);
      return 0;
    };
    const from = time('from');
    const to = time('to');
    if (problems.length === 0 && from >= to) problems.push('/to: must be after from');
    if (problems.length > 0) throw new DeskError('bad_request', problems.join('; '));
    candidateFrom(body.rule, []); // every problem of the candidate, before anything runs
    const job = o.backtests.start(body.rule, { from, to }, user.name);
    return reply.code(202).send(job);
  });

  app.get('/api/backtests', (req) => {
    requireUser(req, 'manage_rules');
    return { backtests: o.backtests.list() };
  });

  app.get<{ Params: { id: string } }>('/api/backtests/:id', (req) => {
    requireUser(req, 'manage_rules');
    const job = o.backtests.get(req.params.id);
    if (job === undefined) throw new DeskError('not_found', `no backtest ${req.params.id}`);
    return job;
  });
};
