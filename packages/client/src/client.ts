// TradewatchClient: sends a game server's events to the ingest API in batches and tells, per
// event, what became of it.
//
// - Batching: events wait at most `lingerMs` for others, and go as soon as a batch holds
//   `batchSize` events or `maxBatchBytes` of JSON.
// - Order: a player's events are sent in the order given. Players are spread over `concurrency`
//   lanes by a hash of userId; a lane sends one request at a time and retries it before sending
//   the next, so a player's events reach the gateway — and so Kafka — in order.
// - Retries: 429, 502, 503, 504, network errors and timeouts are retried with the same body
//   (the gateway answers an exact retry as duplicates, so nothing is published twice), after a
//   jittered backoff that is never shorter than Retry-After. A 4xx is never retried: a 400 or 409
//   settles the events it names and sends the others again at once; 401 fails the batch.
// - Shutdown: `close()` sends what is queued, waits for replies and retries (up to
//   `closeTimeoutMs`), and reports anything still unconfirmed as failed.
import { randomUUID } from 'node:crypto';
import { parseRetryAfter, RETRIABLE_STATUSES, TradewatchClientError } from './errors.ts';
import { DEFAULT_RETRY, retryDelay, type RetryPolicy } from './retry.ts';
import type { ClientStats, EventOutcome, EventStatus, FieldProblem, GameEvent } from './types.ts';

export interface TradewatchClientOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  url: string | URL;
  /** The game server's bearer token (or a sandbox token). Never logged. */
  token: string;
  /** Most events in one request (default 500; the gateway takes up to 1000). */
  batchSize?: number;
  /** Most bytes of JSON in one request (default 900,000; the gateway takes up to 1 MiB). */
  maxBatchBytes?: number;
  /** How long an event waits for others before its batch is sent, ms (default 10). */
  lingerMs?: number;
  /** Requests in flight at once, one per lane of players (default 8). */
  concurrency?: number;
  /** Bound on one request, ms (default 10,000); a request past it is retried. */
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Events queued or in flight beyond which `send` fails new ones with `queue_full` (default 100,000). */
  maxPendingEvents?: number;
  /** Prefix of the eventIds generated for events without one (default none: a bare UUID). */
  eventIdPrefix?: string;
  /** How long `close()` waits for what is pending, ms (default 30,000). */
  closeTimeoutMs?: number;
  /** Called before each retry, e.g. to log it. */
  onRetry?: (info: {
    attempt: number;
    delayMs: number;
    events: number;
    error: TradewatchClientError;
  }) => void;
  /** A fetch of your own (instrumentation, a proxy agent); default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

interface Call {
  outcomes: EventOutcome[];
  remaining: number;
  done: Promise<EventOutcome[]>;
  resolve: (outcomes: EventOutcome[]) => void;
}

interface Item {
  json: string;
  bytes: number;
  eventId: string;
  call: Call;
  index: number;
  /** When it was queued; 0 if it never was (settled at once). */
  queuedAt: number;
}

interface Lane {
  queue: Item[];
  queuedBytes: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  busy: boolean;
}

interface Reply {
  status: number;
  body: Record<string, unknown> | undefined;
  retryAfterMs: number | undefined;
}

const positive = (name: string, value: number | undefined, fallback: number, max = Infinity): number => {
  const v = value ?? fallback;
  if (!(typeof v === 'number' && v > 0 && v <= max && (Number.isInteger(v) || v === Infinity))) {
    throw new RangeError(
      `${name} must be a positive integer${max < Infinity ? ` up to ${max}` : ''}, got ${v}`,
    );
  }
  return v;
};

/** FNV-1a: which lane a player's events take. */
const laneOf = (userId: unknown, lanes: number): number => {
  if (typeof userId !== 'string') return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
};

export class TradewatchClient {
  private readonly eventsUrl: URL;
  private readonly base: URL;
  private readonly authorization: string;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly lingerMs: number;
  private readonly requestTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly maxPendingEvents: number;
  private readonly eventIdPrefix: string;
  private readonly closeTimeoutMs: number;
  private readonly onRetry: TradewatchClientOptions['onRetry'];
  private readonly fetch: typeof globalThis.fetch;
  private readonly lanes: Lane[];
  private readonly calls = new Set<Call>();
  private readonly requests = new Set<AbortController>();
  private readonly sleepers = new Set<() => void>();
  private pending = 0;
  /** > 0 while a flush or close wants every queued event sent without lingering. */
  private urgent = 0;
  private closed = false;
  private aborted = false;
  private readonly counts = {
    requests: 0,
    retries: 0,
    accepted: 0,
    duplicates: 0,
    invalid: 0,
    conflicts: 0,
    failed: 0,
  };

  constructor(options: TradewatchClientOptions) {
    const base = new URL(options.url.toString());
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.eventsUrl = new URL('v1/events', base);
    if (typeof options.token !== 'string' || options.token === '' || /\s/.test(options.token)) {
      throw new TypeError('token must be a non-empty string without spaces');
    }
    this.authorization = `Bearer ${options.token}`;
    this.batchSize = positive('batchSize', options.batchSize, 500, 1000);
    this.maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes, 900_000, 1024 * 1024 - 64);
    this.lingerMs = options.lingerMs ?? 10;
    if (!(this.lingerMs >= 0)) throw new RangeError(`lingerMs must be >= 0, got ${this.lingerMs}`);
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 10_000);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    positive('retry.initialDelayMs', this.retry.initialDelayMs, 1);
    positive('retry.maxDelayMs', this.retry.maxDelayMs, 1);
    positive('retry.maxElapsedMs', this.retry.maxElapsedMs, 1);
    this.maxPendingEvents = positive('maxPendingEvents', options.maxPendingEvents, 100_000);
    this.eventIdPrefix = options.eventIdPrefix ?? '';
    this.closeTimeoutMs = positive('closeTimeoutMs', options.closeTimeoutMs, 30_000);
    this.onRetry = options.onRetry;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.lanes = Array.from({ length: positive('concurrency', options.concurrency, 8, 64) }, () => ({
      queue: [],
      queuedBytes: 0,
      timer: undefined,
      busy: false,
    }));
  }

  /**
   * Queues events and resolves, once each has an outcome, with the outcomes in the order given.
   * Never rejects for what the gateway answers; rejects only after `close()`.
   */
  send(events: GameEvent | readonly GameEvent[]): Promise<EventOutcome[]> {
    if (this.closed) return Promise.reject(new TradewatchClientError('closed', 'the client is closed'));
    const list: readonly GameEvent[] = Array.isArray(events) ? events : [events as GameEvent];
    let resolve!: (o: EventOutcome[]) => void;
    const done = new Promise<EventOutcome[]>((r) => (resolve = r));
    const call: Call = {
      outcomes: new Array<EventOutcome>(list.length),
      remaining: list.length,
      done,
      resolve,
    };
    if (list.length === 0) {
      resolve([]);
      return done;
    }
    this.calls.add(call);
    const now = Date.now();
    const touched = new Set<Lane>();
    list.forEach((ev, index) => {
      if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) {
        const problems = [{ path: '/', message: 'Expected an event object' }];
        this.settle(
          { json: '', bytes: 0, eventId: '', call, index, queuedAt: 0 },
          { status: 'invalid', eventId: '', problems },
        );
        return;
      }
      const eventId = ev.eventId ?? `${this.eventIdPrefix}${randomUUID()}`;
      const ts = ev.ts instanceof Date ? ev.ts.getTime() : ev.ts;
      const json = JSON.stringify({ ...ev, eventId, ts });
      const item: Item = { json, bytes: Buffer.byteLength(json) + 1, eventId, call, index, queuedAt: 0 };
      if (this.pending >= this.maxPendingEvents) {
        this.fail(
          item,
          new TradewatchClientError('queue_full', 'too many events pending; send later', { retriable: true }),
        );
        return;
      }
      if (item.bytes + 12 > this.maxBatchBytes) {
        this.fail(
          item,
          new TradewatchClientError('body_too_large', `the event is ${item.bytes} bytes of JSON`),
        );
        return;
      }
      const lane = this.lanes[laneOf(ev.userId, this.lanes.length)]!;
      item.queuedAt = now;
      lane.queue.push(item);
      lane.queuedBytes += item.bytes;
      this.pending++;
      touched.add(lane);
    });
    for (const lane of touched) this.kick(lane);
    return done;
  }

  /** Sends everything queued now, without lingering, and waits until each of it has an outcome. */
  async flush(): Promise<void> {
    const waiting = [...this.calls].map((c) => c.done);
    this.urgent++;
    try {
      for (const lane of this.lanes) this.kick(lane);
      await Promise.all(waiting);
    } finally {
      this.urgent--;
    }
  }

  /**
   * Refuses new events, sends what is queued and waits for every outcome — retries included — for
   * at most `closeTimeoutMs`; what is still unconfirmed then fails with `closed` (it may or may
   * not have been accepted: sending the same events again later is safe). Safe to call twice.
   */
  async close(): Promise<void> {
    this.closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.closeTimeoutMs)),
    );
    try {
      if ((await Promise.race([this.flush().then(() => 'flushed' as const), timedOut])) === 'timeout')
        this.abort();
    } finally {
      clearTimeout(timer);
    }
    // After an abort the lanes settle what they hold within a tick or two.
    await Promise.all([...this.calls].map((c) => c.done));
  }

  /** Where an event is (GET /v1/events/:eventId); undefined when the gateway does not know it. */
  async eventStatus(eventId: string): Promise<EventStatus | undefined> {
    const reply = await this.request(new URL(`v1/events/${encodeURIComponent(eventId)}`, this.base), {
      method: 'GET',
    });
    if (reply.status === 200 && reply.body !== undefined) return reply.body as unknown as EventStatus;
    if (reply.status === 404) return undefined;
    throw this.replyError(reply);
  }

  stats(): ClientStats {
    return { pending: this.pending, ...this.counts };
  }

  // ------------------------------------------------------------------------------ batching

  private kick(lane: Lane): void {
    if (lane.busy || lane.queue.length === 0) return;
    const full = lane.queue.length >= this.batchSize || lane.queuedBytes >= this.maxBatchBytes;
    const waited = Date.now() - lane.queue[0]!.queuedAt;
    if (!full && this.urgent === 0 && !this.aborted && waited < this.lingerMs) {
      lane.timer ??= setTimeout(() => {
        lane.timer = undefined;
        this.kick(lane);
      }, this.lingerMs - waited);
      return;
    }
    clearTimeout(lane.timer);
    lane.timer = undefined;
    const batch: Item[] = [];
    let bytes = 12; // {"events":[]}
    while (lane.queue.length > 0 && batch.length < this.batchSize) {
      const next = lane.queue[0]!;
      if (batch.length > 0 && bytes + next.bytes > this.maxBatchBytes) break;
      lane.queue.shift();
      lane.queuedBytes -= next.bytes;
      bytes += next.bytes;
      batch.push(next);
    }
    lane.busy = true;
    void this.deliver(batch).finally(() => {
      lane.busy = false;
      this.kick(lane);
    });
  }

  /** Sends one batch until every event in it has an outcome. Never rejects. */
  private async deliver(batch: Item[]): Promise<void> {
    const started = Date.now();
    let items = batch;
    let attempt = 0;
    while (items.length > 0) {
      if (this.aborted) {
        const err = new TradewatchClientError('closed', 'closed before the gateway confirmed these events');
        for (const item of items) this.fail(item, err);
        return;
      }
      let reply: Reply;
      try {
        this.counts.requests++;
        reply = await this.request(this.eventsUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: `{"events":[${items.map((i) => i.json).join(',')}]}`,
        });
      } catch (err) {
        const e = err as TradewatchClientError;
        if (!(await this.backoff(items, attempt++, started, e))) return;
        continue;
      }
      if (reply.status === 202) {
        this.counts.accepted += Number(reply.body?.accepted ?? 0);
        this.counts.duplicates += Number(reply.body?.duplicates ?? 0);
        for (const item of items) this.settle(item, { status: 'accepted', eventId: item.eventId });
        return;
      }
      const error = this.replyError(reply);
      const named =
        reply.status === 400 && error.code === 'invalid_events'
          ? this.settleNamed(items, reply.body?.details, 'invalid')
          : reply.status === 409 && error.code === 'event_id_conflict'
            ? this.settleNamed(items, reply.body?.indexes, 'conflict')
            : undefined;
      if (named !== undefined) {
        items = named;
        continue;
      }
      if (reply.status === 413 && items.length > 1) {
        // Larger than the gateway takes (its limit may be lower than ours): halve it, in order.
        const half = Math.ceil(items.length / 2);
        await this.deliver(items.slice(0, half));
        await this.deliver(items.slice(half));
        return;
      } else if (error.retriable) {
        if (!(await this.backoff(items, attempt++, started, error))) return;
        continue;
      }
      for (const item of items) this.fail(item, error);
      return;
    }
  }

  /**
   * Settles the events a 400 or 409 names (by index in `items`) and returns the others, to be
   * sent again at once; undefined when the reply names none (then the whole batch fails).
   */
  private settleNamed(items: Item[], named: unknown, as: 'invalid' | 'conflict'): Item[] | undefined {
    const problems = new Map<number, FieldProblem[]>();
    if (as === 'invalid' && Array.isArray(named)) {
      for (const d of named as { index?: unknown; path?: unknown; message?: unknown }[]) {
        if (typeof d?.index !== 'number' || d.index < 0 || d.index >= items.length) continue;
        const list = problems.get(d.index) ?? [];
        list.push({ path: String(d.path), message: String(d.message) });
        problems.set(d.index, list);
      }
    } else if (as === 'conflict' && Array.isArray(named)) {
      for (const i of named as unknown[])
        if (typeof i === 'number' && i >= 0 && i < items.length) problems.set(i, []);
    }
    if (problems.size === 0) return undefined;
    const rest: Item[] = [];
    items.forEach((item, i) => {
      const p = problems.get(i);
      if (p === undefined) rest.push(item);
      else if (as === 'invalid') this.settle(item, { status: 'invalid', eventId: item.eventId, problems: p });
      else this.settle(item, { status: 'conflict', eventId: item.eventId });
    });
    return rest;
  }

  /** Waits before the next attempt; false (the events failed) when the retry budget is spent. */
  private async backoff(
    items: Item[],
    attempt: number,
    started: number,
    error: TradewatchClientError,
  ): Promise<boolean> {
    const delayMs = retryDelay(attempt, error.retryAfterMs, this.retry);
    if (this.aborted || Date.now() + delayMs - started > this.retry.maxElapsedMs) {
      const final = this.aborted
        ? new TradewatchClientError('closed', 'closed before the gateway confirmed these events', {
            cause: error,
          })
        : new TradewatchClientError(
            'retries_exhausted',
            `no confirmation within ${this.retry.maxElapsedMs} ms: ${error.message}`,
            {
              cause: error,
              retriable: true,
              ...(error.status === undefined ? {} : { status: error.status }),
            },
          );
      for (const item of items) this.fail(item, final);
      return false;
    }
    this.counts.retries++;
    this.onRetry?.({ attempt: attempt + 1, delayMs, events: items.length, error });
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delayMs);
      this.sleepers.add(wake);
    });
    return true;
  }

  // ------------------------------------------------------------------------------ HTTP

  private async request(url: URL, init: RequestInit): Promise<Reply> {
    const controller = new AbortController();
    this.requests.add(controller);
    const timer = setTimeout(() => controller.abort(new Error('timeout')), this.requestTimeoutMs);
    try {
      const res = await this.fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: this.authorization },
        signal: controller.signal,
      });
      const text = await res.text();
      let body: Record<string, unknown> | undefined;
      try {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
      } catch {
        // A proxy's HTML error page, say: the status decides.
      }
      return {
        status: res.status,
        body,
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()),
      };
    } catch (err) {
      const timeout = controller.signal.aborted && !this.aborted;
      throw new TradewatchClientError(
        timeout ? 'timeout' : this.aborted ? 'closed' : 'network',
        timeout
          ? `no reply within ${this.requestTimeoutMs} ms`
          : `could not reach the gateway: ${(err as Error).message ?? String(err)}`,
        { retriable: true, cause: err },
      );
    } finally {
      clearTimeout(timer);
      this.requests.delete(controller);
    }
  }

  private replyError(reply: Reply): TradewatchClientError {
    const code = typeof reply.body?.error === 'string' ? reply.body.error : 'unexpected_reply';
    const message = typeof reply.body?.message === 'string' ? reply.body.message : `HTTP ${reply.status}`;
    return new TradewatchClientError(code, message, {
      status: reply.status,
      retriable: RETRIABLE_STATUSES.has(reply.status),
      ...(reply.retryAfterMs === undefined ? {} : { retryAfterMs: reply.retryAfterMs }),
    });
  }

  // ------------------------------------------------------------------------------ outcomes

  private abort(): void {
    this.aborted = true;
    for (const wake of [...this.sleepers]) wake();
    for (const c of this.requests) c.abort(new Error('closed'));
    const err = new TradewatchClientError('closed', 'closed before these events were sent');
    for (const lane of this.lanes) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
      for (const item of lane.queue.splice(0)) this.fail(item, err);
      lane.queuedBytes = 0;
    }
  }

  private fail(item: Item, error: TradewatchClientError): void {
    this.settle(item, { status: 'failed', eventId: item.eventId, error });
  }

  private settle(item: Item, outcome: EventOutcome): void {
    if (item.queuedAt !== 0) this.pending--;
    if (outcome.status === 'invalid') this.counts.invalid++;
    else if (outcome.status === 'conflict') this.counts.conflicts++;
    else if (outcome.status === 'failed') this.counts.failed++;
    const { call } = item;
    call.outcomes[item.index] = outcome;
    if (--call.remaining === 0) {
      this.calls.delete(call);
      call.resolve(call.outcomes);
    }
  }
}
