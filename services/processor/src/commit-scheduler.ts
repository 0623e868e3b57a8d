// When the next transaction runs: at most `intervalMs` after the oldest record it will carry was
// applied, at once when `maxUncommitted` records are waiting, and never while one is running
// (the next one starts when it ends). `backPressure` is what a batch handler awaits while too
// much is uncommitted: the running transaction. Pure scheduling: the commit itself is given.
export interface CommitSchedulerOptions {
  intervalMs: number;
  maxUncommitted: number;
  /** Runs one transaction over everything applied so far; resolves when it ended, either way. */
  commit: () => Promise<void>;
  now?: () => number;
}

export class CommitScheduler {
  private readonly o: CommitSchedulerOptions;
  private readonly now: () => number;
  /** When the oldest uncommitted record was applied; undefined when nothing waits. */
  private pendingSince: number | undefined;
  private uncommitted = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(o: CommitSchedulerOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  get pending(): number {
    return this.uncommitted;
  }

  /** `n` records were applied and wait for a transaction. */
  applied(n: number): void {
    if (n <= 0) return;
    this.pendingSince ??= this.now();
    this.uncommitted += n;
    this.schedule();
  }

  /** Runs a transaction in `ms` even if nothing new is applied (a carried transaction waits). */
  retryIn(ms: number): void {
    if (this.stopped) return;
    const at = this.now() + ms - this.o.intervalMs;
    if (this.pendingSince === undefined || this.pendingSince > at) this.pendingSince = at;
    this.schedule();
  }

  /** The running transaction when too much is uncommitted; undefined when the handler may go on. */
  backPressure(): Promise<void> | undefined {
    return this.uncommitted >= this.o.maxUncommitted ? this.inflight : undefined;
  }

  private schedule(): void {
    if (this.stopped || this.inflight !== undefined || this.pendingSince === undefined) return;
    const wait = this.pendingSince + this.o.intervalMs - this.now();
    if (wait > 0 && this.uncommitted < this.o.maxUncommitted) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    void this.run(); // never rejects: commit() handles its own failures
  }

  private run(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pendingSince = undefined;
    this.uncommitted = 0;
    const flight = this.o.commit().finally(() => {
      if (this.inflight === flight) this.inflight = undefined;
      this.schedule();
    });
    this.inflight = flight;
    return flight;
  }

  /** Waits for the running transaction, then commits what is left (a clean shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inflight !== undefined) await this.inflight;
    if (this.pendingSince !== undefined) await this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
