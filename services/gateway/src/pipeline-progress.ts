// The adapters the status endpoint reads the pipeline through: the consumer groups of the
// processors and of the sink on Kafka (their committed offsets, and the alerts topic's last
// stable offsets), and the archive in ClickHouse. Read-only; nothing here joins a group.
import { sqlLiteral, sqlTable, queryRows, type ClickHouseClient } from '@tradewatch/shared/clickhouse';
import type { KafkaAdmin } from '@tradewatch/shared/kafka-port';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import type { ArchiveLookup, PipelineProgress } from './ports.ts';

export interface KafkaProgressOptions {
  eventsTopic: string;
  alertsTopic: string;
  processorGroupId: string;
  sinkGroupId: string;
}

/** A group's committed offset on one partition of a topic; null when it has none there. */
const committedOffset = async (
  admin: KafkaAdmin,
  groupId: string,
  topic: string,
  partition: number,
): Promise<number | null> => (await admin.committedOffsets(groupId, topic)).get(partition) ?? null;

export const createKafkaProgress = (admin: KafkaAdmin, opts: KafkaProgressOptions): PipelineProgress => {
  // The alerts topic may be created after the gateway starts: its size is read when first needed.
  let alertsPartitions: number | undefined;
  const alertsPartitionOf = async (userId: string): Promise<number> => {
    alertsPartitions ??= await admin.partitionCount(opts.alertsTopic);
    return partitionForKey(userId, alertsPartitions);
  };
  return {
    processorsCommitted: (partition) =>
      committedOffset(admin, opts.processorGroupId, opts.eventsTopic, partition),

    async alertsMark(userId) {
      const partition = await alertsPartitionOf(userId);
      // Watermarks are read read_committed: `high` is the last stable offset, below which every
      // transaction is decided.
      const marks = await admin.watermarks(opts.alertsTopic);
      return marks.find((m) => m.partition === partition)?.high ?? 0;
    },

    async alertsArchivedPast(userId, mark) {
      // An alert committed before the mark lies at most at mark - 2 (its transaction's commit
      // marker follows it, below the mark), so the sink has archived it once its committed offset
      // reaches mark - 1 (it commits after the insert, in order; a consumer's position may stop
      // short of a trailing commit marker).
      if (mark <= 1) return true;
      const partition = await alertsPartitionOf(userId);
      const committed = await committedOffset(admin, opts.sinkGroupId, opts.alertsTopic, partition);
      return committed !== null && committed >= mark - 1;
    },
  };
};

/**
 * Lookups in `events` and `alerts` by the columns their sorting keys start with (userId), so
 * that a question reads the user's rows only, not the table.
 */
export const createClickHouseArchive = (client: ClickHouseClient, database: string): ArchiveLookup => {
  const events = sqlTable(database, 'events');
  const alerts = sqlTable(database, 'alerts');
  return {
    async eventArchivedAt(userId, eventId) {
      const [row] = await queryRows<{ at: number | string }>(
        client,
        `SELECT toUnixTimestamp(archivedAt) AS at FROM ${events} ` +
          `WHERE userId = ${sqlLiteral(userId)} AND eventId = ${sqlLiteral(eventId)} LIMIT 1`,
      );
      return row === undefined ? undefined : Number(row.at) * 1000;
    },
    async alert(userId, alertId) {
      const [row] = await queryRows<{ alertId: string; at: number | string }>(
        client,
        `SELECT alertId, toUnixTimestamp(archivedAt) AS at FROM ${alerts} ` +
          `WHERE userId = ${sqlLiteral(userId)} AND alertId = ${sqlLiteral(alertId)} LIMIT 1`,
      );
      return row === undefined ? undefined : { alertId: row.alertId, archivedAt: Number(row.at) * 1000 };
    },
  };
};
