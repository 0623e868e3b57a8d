// The configuration of `npm start`, `up`, `down`, `status` and `topics` (scripts/stack.ts): every
// environment variable the stack reads, validated with the services' reader, every problem
// listed at once. The services read their own settings from the environment the stack passes on.
import { join } from 'node:path';
import { EnvReader, type Env } from '@tradewatch/shared/config';
import {
  DEFAULT_ALERTS_TOPIC,
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_EVENTS_TOPIC,
  DEFAULT_LABELS_TOPIC,
  DEFAULT_RULES_TOPIC,
  DEFAULT_SHADOW_ALERTS_TOPIC,
  defaultChangelogTopic,
  type TopicRole,
} from '@tradewatch/shared/topology';

/** infra/infra.sh's three brokers, as every service is given them. */
const THREE_BROKERS = '127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096';

export interface StackConfig {
  /** Pid files (run/), logs (logs/) and Prometheus' scrape targets live below it. */
  dataDir: string;
  /** 1 or 3 brokers (infra/infra.sh); with 3, every service is given all three by default. */
  kafkaClusterSize: 1 | 3;
  kafkaBrokers: string[];
  gatewayPort: number;
  dashboardPort: number;
  /** processor-N serves its metrics and user-state queries on this port + N. */
  processorPortBase: number;
  sinkMetricsPort: number;
  prometheusUrl: string;
  /** Where the desk's overview reads its live rates: the stack's Prometheus unless set. */
  dashboardPrometheusUrl: string;
  clickhouseUrl: string;
  /** The pipeline's topics (every one but the sandbox: the gateway creates it for a sandbox token). */
  topics: Readonly<Record<Exclude<TopicRole, 'sandbox'>, string>>;
  eventsPartitions: number;
  processors: number;
  /** GATEWAY_TOKENS is unset: the gateway and the simulator use the demo credentials. */
  demoGatewayTokens: boolean;
  /** DASHBOARD_USERS is unset: the desk has the demo users. */
  demoDashboardUsers: boolean;
  /** TRADEWATCH_DEMO as the services are given it: on whenever a demo credential is in use. */
  serviceDemo: boolean;
}

export const loadStackConfig = (env: Env, root: string): Readonly<StackConfig> => {
  const r = new EnvReader(env);
  const kafkaClusterSize = r.oneOf('KAFKA_CLUSTER_SIZE', ['1', '3'], '1') === '3' ? 3 : 1;
  const prometheusPort = r.int('PROMETHEUS_PORT', 9090, { min: 1, max: 65535 });
  const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
  const groupId = r.string('PROCESSOR_GROUP_ID', 'tradewatch-processor');
  const demoGatewayTokens = r.optionalString('GATEWAY_TOKENS') === undefined;
  const demoDashboardUsers = r.optionalString('DASHBOARD_USERS') === undefined;
  const demo = r.bool('TRADEWATCH_DEMO', false);
  return r.finish('stack', {
    dataDir: r.string('TRADEWATCH_DATA_DIR', join(root, '.data')),
    kafkaClusterSize,
    kafkaBrokers: r.hostPorts('KAFKA_BROKERS', kafkaClusterSize === 3 ? THREE_BROKERS : '127.0.0.1:9092'),
    gatewayPort: r.int('GATEWAY_PORT', 8080, { min: 1, max: 65535 }),
    dashboardPort: r.int('DASHBOARD_PORT', 8081, { min: 1, max: 65535 }),
    processorPortBase: r.int('PROCESSOR_PORT_BASE', 9100, { min: 1, max: 65000 }),
    sinkMetricsPort: r.int('SINK_METRICS_PORT', 9190, { min: 1, max: 65535 }),
    prometheusUrl,
    dashboardPrometheusUrl: r.url('DASHBOARD_PROMETHEUS_URL', prometheusUrl, ['http:', 'https:']).href,
    clickhouseUrl: r
      .url('CLICKHOUSE_URL', 'http://127.0.0.1:8123', ['http:', 'https:'])
      .href.replace(/\/$/, ''),
    topics: {
      events: r.string('EVENTS_TOPIC', DEFAULT_EVENTS_TOPIC),
      alerts: r.string('ALERTS_TOPIC', DEFAULT_ALERTS_TOPIC),
      shadowAlerts: r.string('SHADOW_ALERTS_TOPIC', DEFAULT_SHADOW_ALERTS_TOPIC),
      rules: r.string('RULES_TOPIC', DEFAULT_RULES_TOPIC),
      labels: r.string('LABELS_TOPIC', DEFAULT_LABELS_TOPIC),
      changelog: r.string('PROCESSOR_CHANGELOG_TOPIC', defaultChangelogTopic(groupId)),
      deadLetters: r.string('DEAD_LETTER_TOPIC', DEFAULT_DEAD_LETTER_TOPIC),
    },
    eventsPartitions: r.int('EVENTS_PARTITIONS', 6, { min: 1, max: 10000 }),
    processors: r.int('PROCESSOR_INSTANCES', 2, { min: 0, max: 100 }),
    demoGatewayTokens,
    demoDashboardUsers,
    serviceDemo: demoGatewayTokens || demoDashboardUsers || demo,
  });
};
