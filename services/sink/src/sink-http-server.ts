// The sink's HTTP server, for operators' tools: `GET /metrics` (Prometheus text from
// OpenTelemetry) and `GET /healthz` (the process is up). Nothing else is served.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@tradewatch/shared/logger';

export interface PrometheusSource {
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
}

export interface SinkHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

const answer = async (
  prometheus: PrometheusSource,
  method: string,
  path: string,
): Promise<{ status: number; type: string; body: string }> => {
  const json = 'application/json; charset=utf-8';
  if (path !== '/metrics' && path !== '/healthz') {
    return {
      status: 404,
      type: json,
      body: JSON.stringify({ error: 'not_found', message: `no route ${path}` }),
    };
  }
  if (method !== 'GET') {
    return {
      status: 405,
      type: json,
      body: JSON.stringify({ error: 'method_not_allowed', message: 'only GET' }),
    };
  }
  if (path === '/healthz') return { status: 200, type: json, body: '{"status":"ok"}' };
  return { status: 200, type: prometheus.prometheusContentType, body: await prometheus.prometheusText() };
};

/** Listens on host:port (0: any free port). */
export const startSinkHttpServer = async (
  prometheus: PrometheusSource,
  host: string,
  port: number,
  log: Logger,
): Promise<SinkHttpServer> => {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split(/[?#]/, 1)[0]!;
    answer(prometheus, req.method ?? 'GET', path).then(
      (a) => res.writeHead(a.status, { 'content-type': a.type, 'cache-control': 'no-store' }).end(a.body),
      (err: unknown) => {
        log.error({ err, path }, 'request failed');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
