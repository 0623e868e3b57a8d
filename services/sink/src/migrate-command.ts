// `npm run migrate -w @tradewatch/sink`: applies the pending archive migrations and exits.
// Reads CLICKHOUSE_URL, CLICKHOUSE_DATABASE, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, LOG_LEVEL.
import { createLogger } from '@tradewatch/shared/logger';
import { crash } from '@tradewatch/shared/shutdown';
import { loadSinkConfig } from './config.ts';
import { migrate } from './migration-runner.ts';
import { createSinkClickHouse } from './start-sink.ts';

const config = loadSinkConfig(process.env);
const log = createLogger('sink-migrate', config.logLevel);
const client = createSinkClickHouse(config);
try {
  await migrate(client, config.clickhouse.database, log);
} catch (err) {
  crash(log, err, 'migration failed');
} finally {
  await client.close();
}
