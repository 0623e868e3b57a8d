// GET /healthz (the process is up) and GET /readyz (every dependency answers, each check bounded
// so that a hung one is a 503 in time, not a hung probe). No token: they are for the orchestrator.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginCallback } from 'fastify';
import type { ReadinessCheck } from '../ports.ts';

export interface HealthRoutesOptions {
  readiness: readonly ReadinessCheck[];
  /** Bound on each readiness check, ms. */
  timeoutMs: number;
}

export interface Readiness {
  ready: boolean;
  /** Per check: 'ok', or why not. */
  checks: Record<string, string>;
}

/** Runs every check at once, each failing with "no answer within …" past `timeoutMs`. */
export const checkReadiness = async (
  readiness: readonly ReadinessCheck[],
  timeoutMs: number,
): Promise<Readiness> => {
  const results = await Promise.all(
    readiness.map(async (r) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          r.check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [r.name, 'ok'] as const;
      } catch (err) {
        return [r.name, (err as Error).message] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, s]) => s === 'ok'), checks: Object.fromEntries(results) };
};

const ReadinessBody = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.String()),
});

export const healthRoutes: FastifyPluginCallback<HealthRoutesOptions> = (app, opts, done) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: Kafka and Redis answer',
        response: { 200: ReadinessBody, 503: ReadinessBody },
      },
    },
    async (_req, reply) => {
      const { ready, checks } = await checkReadiness(opts.readiness, opts.timeoutMs);
      return reply.status(ready ? 200 : 503).send({ ready, checks });
    },
  );
  done();
};
