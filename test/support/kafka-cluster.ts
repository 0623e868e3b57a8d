// A private three-broker KRaft cluster for failure tests: started with infra/infra.sh on free
// ports in a data directory of its own, so that brokers can be killed, paused and restarted
// without touching the shared Kafka. Reads the cluster the way an operator would: partition
// leaders and ISRs from metadata (kcat -L -J), the active controller from the controllers' own
// logs. A broker's metadata names a random live broker as "controller" in KRaft mode, so kcat's
// "(controller)" is not the active controller.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, waitUntil } from './harness.ts';

const run = promisify(execFile);
const INFRA = join(ROOT, 'infra/infra.sh');

export type NodeId = 1 | 2 | 3;
export const NODE_IDS: readonly NodeId[] = [1, 2, 3];

export interface PartitionState {
  partition: number;
  /** -1 while the partition has no leader. */
  leader: number;
  replicas: number[];
  isr: number[];
}

export interface ClusterMetadata {
  /** Registered, unfenced brokers. */
  brokers: number[];
  topics: Map<string, PartitionState[]>;
}

interface KcatMetadata {
  brokers: { id: number }[];
  topics: {
    topic: string;
    error?: string;
    partitions: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[] }[];
  }[];
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A base port p with p..p+5 free: three brokers and their controllers. */
const freePortRange = async (): Promise<number> => {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + 2 * Math.floor(Math.random() * 6000); // below the ephemeral ports
    let free = true;
    for (let p = base; p < base + 6 && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error('no six consecutive free ports found');
};

export class KafkaCluster {
  readonly dataDir: string;
  readonly basePort: number;
  /** Brokers that this helper stopped with SIGSTOP and has not resumed. */
  private readonly paused = new Set<NodeId>();
  /** Brokers that this helper killed or stopped and has not started again. */
  private readonly down = new Set<NodeId>();

  private constructor(dataDir: string, basePort: number) {
    this.dataDir = dataDir;
    this.basePort = basePort;
  }

  /** Starts the three brokers (small heaps) and waits until each is registered. */
  static async start(): Promise<KafkaCluster> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tw-chaos-'));
    let lastError: unknown;
    // Another process may take a port between the check and the bind: try another range.
    for (let attempt = 0; attempt < 3; attempt++) {
      const cluster = new KafkaCluster(dataDir, await freePortRange());
      try {
        await cluster.infra('up', 'kafka');
        return cluster;
      } catch (err) {
        lastError = err;
        await cluster.infra('purge', 'kafka').catch(() => undefined);
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
    throw lastError;
  }

  get env(): Record<string, string> {
    return {
      TRADEWATCH_DATA_DIR: this.dataDir,
      KAFKA_CLUSTER_SIZE: '3',
      KAFKA_BROKERS: `127.0.0.1:${this.basePort}`,
      KAFKA_CONTROLLER_PORT: String(this.basePort + 1),
      KAFKA_HEAP_OPTS: '-Xmx512m -Xms128m',
    };
  }

  portOf(node: NodeId): number {
    return this.basePort + 2 * (node - 1);
  }

  /** What clients put in KAFKA_BROKERS. */
  get brokers(): string[] {
    return NODE_IDS.map((n) => `127.0.0.1:${this.portOf(n)}`);
  }

  /** Runs infra/infra.sh with this cluster's environment; rejects with its output on failure. */
  async infra(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run('bash', [INFRA, ...args], {
        env: { ...process.env, ...this.env },
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`infra.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  pid(node: NodeId): number {
    const pid = Number(readFileSync(join(this.dataDir, 'run', `kafka-${node}.pid`), 'utf8').trim());
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`no pid for kafka-${node}`);
    return pid;
  }

  private alive(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }

  /** Brokers neither killed nor paused by this helper: the ones to ask for metadata. */
  reachable(): NodeId[] {
    return NODE_IDS.filter((n) => !this.down.has(n) && !this.paused.has(n));
  }

  /** SIGKILL of the broker process; resolves once it is gone. */
  async kill(node: NodeId): Promise<void> {
    const pid = this.pid(node);
    this.down.add(node);
    process.kill(pid, 'SIGKILL');
    await waitUntil(`kafka-${node} (pid ${pid}) to exit`, () => !this.alive(pid), 10000, 20);
  }

  pause(node: NodeId): void {
    process.kill(this.pid(node), 'SIGSTOP');
    this.paused.add(node);
  }

  resume(node: NodeId): void {
    process.kill(this.pid(node), 'SIGCONT');
    this.paused.delete(node);
  }

  /** Starts stopped brokers again (infra.sh up kafka-N) and waits until each is registered. */
  async restart(...nodes: NodeId[]): Promise<void> {
    await this.infra('up', ...nodes.map((n) => `kafka-${n}`));
    for (const n of nodes) this.down.delete(n);
  }

  /** Partition leaders and ISRs as the reachable brokers' metadata has them. */
  async metadata(topics: readonly string[] = []): Promise<ClusterMetadata> {
    const via = this.reachable();
    if (via.length === 0) throw new Error('no reachable broker to ask for metadata');
    const args = ['-L', '-J', '-m', '5', '-b', via.map((n) => `127.0.0.1:${this.portOf(n)}`).join(',')];
    // kcat asks for one topic or all of them.
    const queries = topics.length === 0 ? [[]] : topics.map((t) => ['-t', t]);
    const out: ClusterMetadata = { brokers: [], topics: new Map() };
    for (const q of queries) {
      const { stdout } = await run('kcat', [...args, ...q], { timeout: 15000 });
      const md = JSON.parse(stdout) as KcatMetadata;
      out.brokers = md.brokers.map((b) => b.id).sort();
      for (const t of md.topics) {
        if (t.error !== undefined) throw new Error(`metadata of ${t.topic}: ${t.error}`);
        out.topics.set(
          t.topic,
          t.partitions
            .map((p) => ({
              partition: p.partition,
              leader: p.leader,
              replicas: p.replicas.map((r) => r.id).sort(),
              isr: p.isrs.map((r) => r.id).sort(),
            }))
            .sort((a, b) => a.partition - b.partition),
        );
      }
    }
    return out;
  }

  /** The highest epoch at which each node's controller logged that it became the active one. */
  private controllerEpochs(): Map<NodeId, number> {
    const epochs = new Map<NodeId, number>();
    for (const n of NODE_IDS) {
      let log = '';
      try {
        log = readFileSync(join(this.dataDir, 'logs', `kafka-${n}.log`), 'utf8');
      } catch {
        continue;
      }
      for (const m of log.matchAll(/Becoming the active controller at epoch (\d+)/g)) {
        epochs.set(n, Math.max(epochs.get(n) ?? -1, Number(m[1])));
      }
    }
    return epochs;
  }

  /**
   * The node id of the active KRaft controller: the live node whose controller last became
   * active, at the highest epoch (epochs only grow). Read from the controllers' logs rather than
   * with MetadataQuorumCommand, whose JVM took over 30 s to answer on a loaded 2-core machine;
   * the two agreed whenever both answered. Waits while the newest leader is one this helper
   * killed or paused (a new one is being elected).
   */
  async activeController(timeoutMs = 60000): Promise<NodeId> {
    return waitUntil(
      'a live node to be the active controller',
      () => {
        const newest = [...this.controllerEpochs()].reduce<[NodeId, number] | undefined>(
          (best, e) => (best === undefined || e[1] > best[1] ? e : best),
          undefined,
        );
        return newest !== undefined && this.reachable().includes(newest[0]) ? newest[0] : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /**
   * Waits until all three brokers are registered and every partition of every topic (internal
   * ones included) has a leader and all its replicas in sync: the cluster has healed.
   */
  async waitHealthy(timeoutMs = 90000): Promise<void> {
    await waitUntil(
      'all three brokers registered and every partition fully in sync',
      async () => {
        const md = await this.metadata();
        if (md.brokers.length !== 3) return false;
        for (const parts of md.topics.values()) {
          for (const p of parts) if (p.leader < 0 || p.isr.length !== p.replicas.length) return false;
        }
        return true;
      },
      timeoutMs,
      500,
    );
  }

  /**
   * Kills the three brokers and deletes the data directory. SIGKILL, not infra.sh's SIGTERM: the
   * last broker of a quorum waits 20 s for a controlled shutdown nobody can grant, and the data
   * is thrown away anyway.
   */
  async purge(): Promise<void> {
    for (const n of NODE_IDS) {
      try {
        const pid = this.pid(n);
        if (this.alive(pid)) process.kill(pid, 'SIGKILL');
      } catch {
        // not running
      }
    }
    await this.infra('purge', 'kafka');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
