// What a processor failure means, decided once where it is caught (as Kafka Streams'
// TaskMigratedException / TaskCorruptedException / fatal errors):
//
// - task migrated: someone else owns the partitions now (this producer was fenced, or this
//   member's generation is gone). Every task is closed dirty; the producer is replaced; the
//   group hands out partitions again and the tasks that come back restore.
// - task corrupted: a transaction (or a restore) failed for a reason that may pass, so the tasks
//   in it hold state ahead of what is committed. Those tasks are closed dirty and restored from
//   what was committed.
// - fatal: anything else. The process exits and the group moves its partitions.
import { TradewatchError } from '@tradewatch/shared/errors';

export class TaskMigratedError extends TradewatchError {
  constructor(message: string, cause: unknown) {
    super('PROCESSOR_TASK_MIGRATED', message, { cause });
    this.name = 'TaskMigratedError';
  }
}

export class TaskCorruptedError extends TradewatchError {
  readonly partitions: readonly number[];

  constructor(partitions: readonly number[], message: string, cause: unknown) {
    super('PROCESSOR_TASK_CORRUPTED', message, { cause, retriable: true });
    this.name = 'TaskCorruptedError';
    this.partitions = partitions;
  }
}

/** What a failed transaction over `partitions` means. */
export const classifyCommitFailure = (err: unknown, partitions: readonly number[]): TradewatchError => {
  if (err instanceof TaskMigratedError || err instanceof TaskCorruptedError) return err;
  const e =
    err instanceof TradewatchError
      ? err
      : new TradewatchError('PROCESSOR_ERROR', String(err), { cause: err });
  // Another producer holds the transactional id, or the coordinator aborted a transaction that
  // outlived its timeout (and bumped the epoch), or the broker lost the producer's sequence: this
  // producer can do nothing more; a new one (a new epoch) starts again from what was committed.
  if (e.code === 'KAFKA_FENCED' || e.code === 'KAFKA_PRODUCER_STATE')
    return new TaskMigratedError(e.message, e);
  // The group moved on while the transaction was open: its offsets were refused, so it aborted.
  if (e.code === 'KAFKA_GROUP_FENCED' || e.retriable) {
    return new TaskCorruptedError(partitions, e.message, e);
  }
  return e;
};
