// Which brokers answer. A broker that dies closes its connections and refuses new ones, and the
// client library notices at once. One that freezes (SIGSTOP, a stalled disk, a long pause) keeps
// accepting connections and answers nothing: every request sent to it waits out its whole
// request timeout (10–15 s here), then the retry finds it again through stale metadata or a
// coordinator lookup, and a group member's heartbeat can wait past its session. The controller
// moves the frozen broker's partitions after the broker session timeout (9 s), but the clients
// would keep waiting on it.
//
// BrokerWatch asks each broker of the list for its API versions once a second over a connection
// of its own. A broker that has not answered for `silentAfterMs` is *silent* until it answers
// again. The Kafka adapter then puts silent brokers last when it picks a broker to ask for
// metadata or a coordinator, and closes the connections its clients hold to them (each tick
// while they stay silent), so that a request waiting on a frozen broker fails within a second
// and is retried with fresh metadata instead of waiting out its timeout (as Java's consumer
// gives up on a coordinator that misses a session's heartbeats).
import { Socket } from 'node:net';

export interface BrokerAddress {
  host: string;
  port: number;
}

/** `host:port` as a key; IPv6 hosts may be written in brackets. */
export const brokerKey = (b: BrokerAddress): string => `${b.host}:${b.port}`;

export const parseBroker = (s: string): BrokerAddress => {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s.trim());
  if (m === null) throw new Error(`not a broker address (host:port): ${s}`);
  return { host: m[1]!, port: Number(m[2]) };
};

/**
 * An ApiVersions v0 request (api key 18, request header v1): the cheapest question every broker
 * answers, whatever its version.
 */
export const apiVersionsRequest = (correlationId: number, clientId: string): Buffer => {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + id.length);
  body.writeInt16BE(18, 0);
  body.writeInt16BE(0, 2);
  body.writeInt32BE(correlationId, 4);
  body.writeInt16BE(id.length, 8);
  id.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
};

/**
 * Reads whole responses off the front of `buffer`: their correlation ids, and what is left of
 * the buffer (a response not yet complete).
 */
export const readResponses = (buffer: Buffer): { correlationIds: number[]; rest: Buffer } => {
  const correlationIds: number[] = [];
  let at = 0;
  while (buffer.length - at >= 8) {
    const size = buffer.readInt32BE(at);
    if (buffer.length - at - 4 < size) break;
    correlationIds.push(buffer.readInt32BE(at + 4));
    at += 4 + size;
  }
  return { correlationIds, rest: buffer.subarray(at) };
};

export interface BrokerWatchOptions {
  brokers: readonly string[];
  clientId: string;
  /** How often each broker is asked, ms. */
  intervalMs?: number;
  /** How long a broker may leave a question unanswered before it counts as silent, ms. */
  silentAfterMs?: number;
  /** Brokers found since (in metadata), watched too from the next tick on. */
  discover?: () => Iterable<BrokerAddress>;
  /** Called on every tick with the brokers silent then (none: not called). */
  onSilentTick?: (silent: readonly BrokerAddress[]) => void;
  /** Called when a broker becomes silent, or answers again. */
  onChange?: (broker: BrokerAddress, silent: boolean, unansweredMs: number) => void;
}

interface Probe {
  broker: BrokerAddress;
  socket: Socket | undefined;
  /** When the outstanding question was asked (or its connection begun); 0: none outstanding. */
  askedAt: number;
  correlationId: number;
  buffer: Buffer;
  silent: boolean;
}

export class BrokerWatch {
  private readonly probes: Probe[];
  private readonly o: Required<Omit<BrokerWatchOptions, 'discover' | 'onSilentTick' | 'onChange'>> &
    Pick<BrokerWatchOptions, 'discover' | 'onSilentTick' | 'onChange'>;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;

  constructor(o: BrokerWatchOptions) {
    this.o = { intervalMs: 1000, silentAfterMs: 3000, ...o };
    this.probes = [];
    for (const s of o.brokers) this.add(parseBroker(s));
  }

  /** Watches `broker` too (once: a broker already watched is left as it is). */
  add(broker: BrokerAddress): void {
    const key = brokerKey(broker);
    if (this.probes.some((p) => brokerKey(p.broker) === key)) return;
    this.probes.push({
      broker: { host: broker.host, port: broker.port },
      socket: undefined,
      askedAt: 0,
      correlationId: 0,
      buffer: Buffer.alloc(0),
      silent: false,
    });
  }

  /** Starts asking; the timer does not keep the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.probes) this.drop(p);
  }

  isSilent(b: BrokerAddress): boolean {
    const key = brokerKey(b);
    return this.probes.some((p) => p.silent && brokerKey(p.broker) === key);
  }

  silent(): BrokerAddress[] {
    return this.probes.filter((p) => p.silent).map((p) => p.broker);
  }

  private tick(): void {
    for (const b of this.o.discover?.() ?? []) this.add(b);
    const now = Date.now();
    for (const p of this.probes) {
      if (p.askedAt === 0) {
        this.ask(p, now);
        continue;
      }
      const waited = now - p.askedAt;
      if (waited < this.o.silentAfterMs) continue;
      if (!p.silent) {
        p.silent = true;
        this.o.onChange?.(p.broker, true, waited);
      }
      // A new connection for the next question: the old one may be stuck behind a full buffer.
      this.drop(p);
      this.ask(p, now, p.askedAt);
    }
    const silent = this.silent();
    if (silent.length > 0) this.o.onSilentTick?.(silent);
  }

  private ask(p: Probe, now: number, outstandingSince = now): void {
    p.askedAt = outstandingSince;
    p.correlationId = this.nextId++ & 0x7fffffff;
    if (p.socket === undefined) {
      const socket = new Socket();
      p.socket = socket;
      p.buffer = Buffer.alloc(0);
      socket.setNoDelay(true);
      socket.unref();
      // A refused or reset connection is a dead broker, which the library notices itself; the
      // question stays unanswered, and the next tick asks again on a new connection.
      socket.on('error', () => this.drop(p, socket));
      socket.on('close', () => this.drop(p, socket));
      socket.on('data', (chunk: Buffer) => this.answer(p, socket, chunk));
      socket.connect(p.broker.port, p.broker.host);
    }
    p.socket.write(apiVersionsRequest(p.correlationId, this.o.clientId));
  }

  private answer(p: Probe, socket: Socket, chunk: Buffer): void {
    if (p.socket !== socket) return;
    const { correlationIds, rest } = readResponses(Buffer.concat([p.buffer, chunk]));
    p.buffer = rest;
    if (correlationIds.length === 0) return;
    const waited = Date.now() - p.askedAt;
    p.askedAt = 0;
    if (p.silent) {
      p.silent = false;
      this.o.onChange?.(p.broker, false, waited);
    }
  }

  private drop(p: Probe, socket: Socket | undefined = p.socket): void {
    if (socket === undefined || p.socket !== socket) return;
    p.socket = undefined;
    socket.destroy();
  }
}

/**
 * The order in which to try brokers for a question any broker can answer (metadata, a
 * coordinator): the list turned by `turn` (so that successive questions go to successive
 * brokers), with silent brokers moved to the end (still tried if nothing else connects).
 */
export const bootstrapOrder = <T>(list: readonly T[], turn: number, isSilent: (b: T) => boolean): T[] => {
  if (list.length === 0) return [];
  const offset = ((turn % list.length) + list.length) % list.length;
  const turned = [...list.slice(offset), ...list.slice(0, offset)];
  return [...turned.filter((b) => !isSilent(b)), ...turned.filter((b) => isSilent(b))];
};
