// Turns the group's assignments into partition tasks (Kafka Streams' TaskManager): a task per
// assigned partition, created when the partition is assigned (so that an idle partition is
// restored too), started (restored, then fetched from its committed offset), and closed when the
// partition is revoked or lost. A corrupted task is closed and replaced by a new one that
// restores what was committed; a migration closes them all. The consumer fetches a partition
// only while its task runs: a new or replaced task's partition is paused until it is restored,
// then moved to the restored offset.
import { TradewatchError } from '@tradewatch/shared/errors';
import type { GroupConsumer, TopicPartition } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { PartitionTask } from './partition-task.ts';
import type { ProcessorStats } from './processor-stats.ts';

export interface TaskManagerOptions {
  eventsTopic: string;
  consumer: Pick<GroupConsumer, 'seek' | 'pause' | 'resume' | 'assignment'>;
  createTask: (partition: number) => PartitionTask;
  /** Where a partition without a committed offset starts (its log start). */
  startOffset: (partition: number) => Promise<number>;
  log: Logger;
  stats: ProcessorStats;
  /** An error no task can recover from: the process should exit. */
  onFatal: (err: unknown) => void;
  /** Delay before a task whose start failed for a passing reason is tried again, ms. */
  retryMs?: number;
}

export class TaskManager {
  private readonly o: TaskManagerOptions;
  private readonly tasks = new Map<number, PartitionTask>();
  private closed = false;

  constructor(o: TaskManagerOptions) {
    this.o = o;
  }

  private tp(partition: number): TopicPartition {
    return { topic: this.o.eventsTopic, partition };
  }

  /** The task of `partition` if it is running. */
  running(partition: number): PartitionTask | undefined {
    const t = this.tasks.get(partition);
    return t?.state === 'running' ? t : undefined;
  }

  /** The task of `partition` in whatever state. */
  task(partition: number): PartitionTask | undefined {
    return this.tasks.get(partition);
  }

  allRunning(): PartitionTask[] {
    return [...this.tasks.values()].filter((t) => t.state === 'running');
  }

  get partitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  assigned(partitions: readonly number[]): void {
    for (const p of partitions) this.start(p);
    this.reportAssignment();
  }

  revoked(partitions: readonly number[], lost: boolean): void {
    for (const p of partitions) this.remove(p, lost ? 'lost' : 'revoked');
    this.reportAssignment();
  }

  private reportAssignment(): void {
    const owned = this.o.consumer
      .assignment()
      .filter((tp) => tp.topic === this.o.eventsTopic)
      .map((tp) => tp.partition)
      .sort((a, b) => a - b);
    this.o.stats.assigned(owned);
    this.o.log.info({ partitions: owned }, 'partitions assigned');
  }

  private remove(partition: number, reason: string): void {
    const t = this.tasks.get(partition);
    if (t === undefined) return;
    this.tasks.delete(partition);
    t.close(reason);
  }

  /** Creates and starts the task of `partition`, replacing (closing) any task it had. */
  private start(partition: number): void {
    if (this.closed) return;
    this.remove(partition, 'replaced');
    const tp = this.tp(partition);
    this.o.consumer.pause([tp]);
    const task = this.o.createTask(partition);
    this.tasks.set(partition, task);
    void task
      .initialize()
      .then(async (started) => {
        if (started === undefined || this.tasks.get(partition) !== task || task.state !== 'running') return;
        const offset = started.offset ?? (await this.o.startOffset(partition));
        if (this.tasks.get(partition) !== task || task.state !== 'running') return;
        this.o.consumer.seek(tp, offset);
        this.o.consumer.resume([tp]);
      })
      .catch((err: unknown) => {
        if (this.tasks.get(partition) !== task || task.state === 'closed') return; // revoked meanwhile
        task.close('failed to start');
        this.tasks.delete(partition);
        if (err instanceof TradewatchError && err.retriable) {
          this.o.log.warn({ err, partition }, 'partition task failed to start, retrying');
          setTimeout(() => {
            if (this.owns(partition) && !this.tasks.has(partition)) this.start(partition);
          }, this.o.retryMs ?? 1000).unref();
          return;
        }
        this.o.onFatal(err);
      });
  }

  private owns(partition: number): boolean {
    return this.o.consumer
      .assignment()
      .some((tp) => tp.topic === this.o.eventsTopic && tp.partition === partition);
  }

  /** The tasks of `partitions` hold uncommitted state: replace them with restored ones. */
  corrupted(partitions: readonly number[], reason: string): void {
    for (const p of partitions) {
      if (this.tasks.has(p)) {
        this.remove(p, reason);
        if (this.owns(p)) this.start(p);
      }
    }
  }

  /** Every task may be owned by someone else now: close them all, start what is still assigned. */
  migrated(reason: string): void {
    for (const p of [...this.tasks.keys()]) this.remove(p, reason);
    for (const tp of this.o.consumer.assignment()) {
      if (tp.topic === this.o.eventsTopic) this.start(tp.partition);
    }
  }

  /** Users held per partition. */
  usersByPartition(): Map<number, number> {
    return new Map([...this.tasks].map(([p, t]) => [p, t.users]));
  }

  closeAll(reason: string): void {
    this.closed = true;
    for (const p of [...this.tasks.keys()]) this.remove(p, reason);
  }
}
