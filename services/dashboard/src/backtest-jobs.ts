// Backtests run from the desk: one at a time (a replay keeps a core busy), the others waiting
// their turn, each with its progress for the page's progress bar and its report or error once
// done. The runner is a port: main.ts gives it the archive's backtest (shared/src/
// backtest-archive.ts), tests a fake. The last MAX_JOBS jobs are kept.
import { randomUUID } from 'node:crypto';
import type { BacktestReport, BacktestWindow } from '@tradewatch/shared/backtest';
import type { BacktestProgress } from '@tradewatch/shared/backtest-archive';
import type { Logger } from '@tradewatch/shared/logger';
import type { BacktestJob } from './api-types.ts';

export type { BacktestJob } from './api-types.ts';

export type BacktestRunner = (
  ruleFile: unknown,
  window: BacktestWindow,
  onProgress: (p: BacktestProgress) => void,
) => Promise<BacktestReport & { ms: number; eventsPerSec: number }>;

const MAX_JOBS = 20;

export class BacktestJobs {
  private readonly run: BacktestRunner;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly jobs = new Map<string, BacktestJob>();
  private chain: Promise<void> = Promise.resolve();

  constructor(run: BacktestRunner, log: Logger, now: () => number = Date.now) {
    this.run = run;
    this.log = log;
    this.now = now;
  }

  start(rule: unknown, window: BacktestWindow, author: string): BacktestJob {
    const job: BacktestJob = {
      id: randomUUID(),
      status: 'queued',
      author,
      createdAt: this.now(),
      rule,
      window,
      progress: { events: 0, total: null },
    };
    this.jobs.set(job.id, job);
    for (const id of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - MAX_JOBS)))
      this.jobs.delete(id);
    this.chain = this.chain.then(() => this.execute(job));
    return job;
  }

  get(id: string): BacktestJob | undefined {
    return this.jobs.get(id);
  }

  list(): BacktestJob[] {
    return [...this.jobs.values()].reverse();
  }

  private async execute(job: BacktestJob): Promise<void> {
    job.status = 'running';
    try {
      job.result = await this.run(job.rule, job.window, (p) => {
        job.progress = { events: p.events, total: p.total ?? null };
      });
      job.status = 'done';
      this.log.info({ id: job.id, events: job.result.events, ms: job.result.ms }, 'backtest done');
    } catch (err) {
      job.status = 'failed';
      job.error = (err as Error).message;
      this.log.warn({ err, id: job.id }, 'backtest failed');
    }
  }

  /** Resolves once every job started so far has ended. */
  idle(): Promise<void> {
    return this.chain;
  }
}
