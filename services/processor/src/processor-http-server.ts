// The processor's HTTP server: its metrics (`GET /metrics`, Prometheus text from OpenTelemetry;
// `GET /metrics.json`) and the interactive query of a user's live state
// (`GET /v1/users/:userId/state`). Routing is `respond(method, url)`, a plain function of the
// request that tests call without a socket (`answer` for what needs no waiting); the error codes
// and their statuses are all in ERRORS below.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@tradewatch/shared/logger';
import type { ProcessorMetrics } from './processor-metrics.ts';
import type { UserStateErrorCode, UserStateQuery } from './user-state-query.ts';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type ErrorCode = UserStateErrorCode | 'not_found' | 'method_not_allowed' | 'internal';

/** Seconds a client should wait before asking a restoring partition again. */
export const RESTORING_RETRY_AFTER_SEC = 1;

const ERRORS: Record<ErrorCode, { status: number; headers?: Record<string, string> }> = {
  invalid_user_id: { status: 400 },
  not_found: { status: 404 },
  method_not_allowed: { status: 405, headers: { allow: 'GET' } },
  // Misdirected Request: the partition's state is on another instance.
  not_owner: { status: 421 },
  internal: { status: 500 },
  restoring: { status: 503, headers: { 'retry-after': String(RESTORING_RETRY_AFTER_SEC) } },
};

const JSON_TYPE = 'application/json; charset=utf-8';
const USER_STATE_PATH = /^\/v1\/users\/([^/]*)\/state$/;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

const error = (code: ErrorCode, message: string, fields: Record<string, unknown> = {}): HttpAnswer => {
  const spec = ERRORS[code];
  return json(spec.status, { error: code, message, ...fields }, spec.headers);
};

/** The process's metrics in the Prometheus text format (shared/src/telemetry.ts). */
export interface PrometheusSource {
  prometheusText(): Promise<string>;
  readonly prometheusContentType: string;
}

export interface ProcessorHttpOptions {
  metrics: ProcessorMetrics;
  /** Without it `GET /metrics` is 404 (tests that do not start the telemetry). */
  prometheus?: PrometheusSource;
  userState: UserStateQuery;
  log: Logger;
}

export class ProcessorHttpServer {
  private readonly o: ProcessorHttpOptions;
  private server: Server | undefined;

  constructor(options: ProcessorHttpOptions) {
    this.o = options;
  }

  /** The answer to any request. */
  async respond(method: string, url: string): Promise<HttpAnswer> {
    const prometheus = this.o.prometheus;
    if (prometheus !== undefined && url.split(/[?#]/, 1)[0] === '/metrics') {
      if (method !== 'GET') return error('method_not_allowed', `${method} /metrics: only GET is served`);
      return {
        status: 200,
        headers: { 'content-type': prometheus.prometheusContentType },
        body: await prometheus.prometheusText(),
      };
    }
    return this.answer(method, url);
  }

  /** The answer to a request other than `GET /metrics`, without I/O. */
  answer(method: string, url: string): HttpAnswer {
    const path = url.split(/[?#]/, 1)[0] ?? '/';
    const stateOf = USER_STATE_PATH.exec(path);
    const known = stateOf !== null || path === '/metrics.json';
    if (!known) return error('not_found', `no route ${path}`);
    if (method !== 'GET') return error('method_not_allowed', `${method} ${path}: only GET is served`);
    if (path === '/metrics.json') return json(200, this.o.metrics.json());

    let userId: string;
    try {
      userId = decodeURIComponent(stateOf![1]!);
    } catch {
      return error('invalid_user_id', 'userId is not valid percent-encoded UTF-8');
    }
    const answer = this.o.userState.query(userId);
    if (answer.ok) return json(200, answer.body);
    const { error: code, message, ...fields } = answer.body;
    return error(code, message, fields);
  }

  /** Listens on host:port (port 0: any free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    const log = this.o.log;
    const server = createServer((req, res) => {
      const reply = (answer: HttpAnswer) => {
        log.debug({ method: req.method, url: req.url, status: answer.status }, 'request');
        res.writeHead(answer.status, answer.headers).end(answer.body);
      };
      this.respond(req.method ?? 'GET', req.url ?? '/').then(reply, (err: unknown) => {
        log.error({ err, method: req.method, url: req.url }, 'request failed');
        reply(error('internal', 'internal error'));
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
