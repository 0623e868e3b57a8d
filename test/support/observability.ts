// Test support for the operator's view: an OTLP/HTTP (JSON) collector that keeps every span the
// services export, and a Prometheus of its own started by infra/infra.sh in a data directory of
// its own, scraping the targets a test names.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.ts';
import { ROOT } from './harness.ts';

export interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
}

export interface OtlpCollector {
  /** OTEL_* variables that make a service export its spans here, quickly. */
  env: Record<string, string>;
  spans: CollectedSpan[];
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

const attributesOf = (list: OtlpAttribute[] = []): Record<string, unknown> =>
  Object.fromEntries(
    list.map((a) => [
      a.key,
      a.value.stringValue ?? a.value.boolValue ?? a.value.doubleValue ?? Number(a.value.intValue),
    ]),
  );

export const startOtlpCollector = async (): Promise<OtlpCollector> => {
  const spans: CollectedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces;
        for (const rs of body.resourceSpans ?? []) {
          const service = String(attributesOf(rs.resource?.attributes)['service.name']);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                attributes: attributesOf(s.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

export interface TestPrometheus {
  url: string;
  /** Makes Prometheus scrape these addresses (host:port) as the given job. */
  scrape(job: 'gateway' | 'processor' | 'sink' | 'dashboard', addresses: string[]): void;
  /** An instant query's result. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** The scrape targets Prometheus knows, with their health. */
  targets(): Promise<{ job: string; instance: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

/** Prometheus as infra.sh runs it (Debian's package), on a free port and a data directory of its own. */
export const startTestPrometheus = async (): Promise<TestPrometheus> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tw-prometheus-'));
  const port = await freePort();
  const env = {
    ...process.env,
    TRADEWATCH_DATA_DIR: dataDir,
    PROMETHEUS_PORT: String(port),
    PROMETHEUS_SCRAPE_INTERVAL: '1s',
  };
  const infra = (cmd: string) =>
    execFileSync('bash', [join(ROOT, 'infra/infra.sh'), cmd, 'prometheus'], { env, stdio: 'pipe' });
  // No target until the test names them: not the defaults, which may be another run's services.
  const targetsDir = join(dataDir, 'prometheus', 'targets');
  mkdirSync(targetsDir, { recursive: true });
  for (const job of ['gateway', 'processor', 'sink', 'dashboard']) {
    writeFileSync(join(targetsDir, `${job}.json`), '[]');
  }
  infra('up');
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    scrape(job, addresses) {
      writeFileSync(
        join(targetsDir, `${job}.json`),
        JSON.stringify([{ targets: addresses, labels: { service: job } }]),
      );
    },
    query: async (promql) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `query?query=${encodeURIComponent(promql)}`,
        )
      ).result,
    targets: async () =>
      (
        await api<{
          activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
        }>('targets?state=active')
      ).activeTargets.map((t) => ({
        job: t.labels.job ?? '',
        instance: t.labels.instance ?? '',
        health: t.health,
        lastError: t.lastError,
      })),
    stop() {
      infra('down');
      rmSync(dataDir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
};
