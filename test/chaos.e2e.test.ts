// Broker failures under load, on a private three-broker KRaft cluster (replication 3,
// min.insync.replicas=2): two game servers post batches to the gateway and retry 503s with the
// same eventIds, two processors commit transactions, the sink archives. Each test injects one
// fault mid-stream and then checks the whole outcome exactly: the events topic holds every event
// the gateway accepted with 202 (and nothing else), the alerts topic (read_committed) holds
// exactly the reference rule's alerts over those events, every field, and the archive (FINAL)
// holds exactly the distinct accepted events and those alerts. What each failure cost (time
// until 202s and alerts flow again, 503s, the slowest POST) is printed as a diagnostic.
//
// CHAOS_SABOTAGE makes the test deliberately wrong, to see that it fails:
//   wrong-reference  the comparison leaves out the first batch accepted after the fault;
//   count-503        the game servers count the first 503 `unavailable` after the fault as accepted.
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil, withAdmin } from './support/harness.ts';
import { KafkaCluster, type NodeId } from './support/kafka-cluster.ts';
import {
  IngestLoop,
  assertExactlyOnce,
  failureCost,
  first202SentAfter,
  firstAlertPostedAfter,
  startChaosPipeline,
  watchAlerts,
  type AcceptedBatch,
  type AlertsWatcher,
  type ChaosPipeline,
} from './support/chaos-pipeline.ts';

const SABOTAGE = process.env.CHAOS_SABOTAGE;
/** CHAOS_PAUSE_NODE=N freezes kafka-N in the pause test instead of a busy leader that is not the controller. */
const PAUSE_NODE = process.env.CHAOS_PAUSE_NODE ? Number(process.env.CHAOS_PAUSE_NODE) : undefined;
/** The brokers' broker.session.timeout.ms (Kafka's default): a silent broker is fenced after it. */
const BROKER_SESSION_TIMEOUT_MS = 9000;

let cluster: KafkaCluster;

before(async () => {
  cluster = await KafkaCluster.start();
});

after(async () => {
  await cluster?.purge();
});

interface Run {
  p: ChaosPipeline;
  watcher: AlertsWatcher;
  loops: IngestLoop[];
  /** Set when the fault is injected: what the sabotage and the cost are measured from. */
  faultAt: number;
  /** How long the run's phases took, ms: where the file's minutes go. */
  phases: Record<string, number>;
  /** Set once finish() has begun checking: its assertions name the crashes themselves. */
  checked: boolean;
}

/** A healed cluster, the pipeline on it, and the game servers posting. */
const startRun = async (name: string): Promise<Run> => {
  const t0 = Date.now();
  await cluster.waitHealthy();
  const p = await startChaosPipeline(cluster, { name, processors: 2 });
  const run: Run = {
    p,
    watcher: watchAlerts(p.kafka, p.topics.alerts),
    loops: [],
    faultAt: Infinity,
    phases: { setup: Date.now() - t0 },
    checked: false,
  };
  let sabotaged = false;
  // Only a 503 `unavailable` (not made durable in time), not `in_progress` (a retry whose first
  // attempt is still being written, and lands).
  const countUnavailableAsAccepted = (a: { startedAt: number; code?: string }) => {
    if (SABOTAGE !== 'count-503' || sabotaged || a.startedAt < run.faultAt || a.code !== 'unavailable')
      return false;
    sabotaged = true;
    return true;
  };
  run.loops = [1, 2].map(
    (n) =>
      new IngestLoop({
        gatewayUrl: p.gatewayUrl,
        name: `${name}-gs${n}`,
        seed: n,
        countUnavailableAsAccepted,
      }),
  );
  for (const l of run.loops) l.start();
  return run;
};

const accepted = (run: Run): AcceptedBatch[] => run.loops.flatMap((l) => l.accepted);

/** Offsets the processors committed (in their transactions) over all partitions. */
const committedTotal = async (run: Run): Promise<number> => {
  const offsets = await withAdmin(run.p.kafka, (admin) =>
    admin.committedOffsets(run.p.processorGroup, run.p.topics.events),
  );
  return [...offsets.values()].reduce((s, o) => s + o, 0);
};

/** Waits until the gateway answers 202 to POSTs sent after `t` and alerts come for trades posted after it. */
const waitFlowing = (run: Run, t: number, what: string, timeoutMs = 120000) =>
  waitUntil(
    `202s and committed alerts for events posted after ${what}`,
    () =>
      first202SentAfter(run.loops, t) < Infinity &&
      run.loops.every((l) => l.accepted.some((b) => b.firstAttemptAt >= t)) &&
      firstAlertPostedAfter(run.loops, run.watcher, t) < Infinity,
    timeoutMs,
    100,
  );

/** A guarantee checked during the fault, asserted after the outcome has been checked. */
interface Expectation {
  what: string;
  ok: boolean;
  detail: string;
}

/**
 * Like waitFlowing, but a failure is recorded rather than thrown: the test goes on (restarts the
 * broker, checks the outcome) to report everything a fault broke, then fails on it.
 */
const rideThrough = async (run: Run, t: number, what: string, timeoutMs: number): Promise<Expectation> => {
  try {
    await waitFlowing(run, t, what, timeoutMs);
    return { what: `traffic and alerts flow again after ${what}`, ok: true, detail: '' };
  } catch (err) {
    return { what: `traffic and alerts flow again after ${what}`, ok: false, detail: (err as Error).message };
  }
};

/** The partition of `topic` with the most records, and every partition `leader` leads. */
const busiest = async (run: Run) => {
  const marks = await withAdmin(run.p.kafka, (admin) => admin.watermarks(run.p.topics.events));
  const top = marks.reduce((a, b) => (b.high > a.high ? b : a));
  const md = await cluster.metadata([run.p.topics.events]);
  return { partitions: md.topics.get(run.p.topics.events)!, top: top.partition, records: marks };
};

const ledBy = async (run: Run, node: number): Promise<number[]> =>
  (await cluster.metadata([run.p.topics.events])).topics
    .get(run.p.topics.events)!
    .filter((p) => p.leader === node)
    .map((p) => p.partition);

/** What a crash of a service looked like, for an assertion message. */
const describeCrashes = (run: Run) =>
  run.p
    .crashes()
    .map(
      (c) =>
        `${c.name} exited with code ${c.code} ${c.at - run.faultAt} ms after the fault (log ${c.logFile}):\n  ` +
        c.lastErrors.join('\n  '),
    )
    .join('\n');

/**
 * Stops the traffic, prints what the fault cost, checks the outcome exactly, and fails if a
 * service crashed on the way (the pipeline restarted it, as a supervisor would, so that the
 * outcome could still be checked) or an expectation recorded during the fault did not hold.
 */
const finish = async (
  t: TestContext,
  run: Run,
  extra: Record<string, unknown>,
  expectations: readonly Expectation[] = [],
) => {
  run.checked = true;
  run.phases.fault = Date.now() - run.faultAt;
  await Promise.all(run.loops.map((l) => l.stop()));
  await run.watcher.stop();
  const cost = failureCost(run.loops, run.watcher, run.faultAt);
  t.diagnostic(
    `${t.name}: ${JSON.stringify({
      ...extra,
      ...cost,
      batches: accepted(run).length,
      alertsBeforeFault: run.watcher.alerts.filter((a) => a.seenAt < run.faultAt).length,
      alertsReaderRestarts: run.watcher.readerFailures.length,
      crashes: run.p.crashes().map((c) => `${c.name}@+${c.at - run.faultAt}ms`),
    })}`,
  );
  // Everything that broke is reported together.
  const failures: string[] = [];
  let batches = accepted(run);
  if (SABOTAGE === 'wrong-reference') {
    const dropped = batches
      .filter((b) => b.acceptedAt >= run.faultAt)
      .sort((a, b) => a.acceptedAt - b.acceptedAt)[0];
    batches = batches.filter((b) => b !== dropped);
  }
  const checking = Date.now();
  try {
    const outcome = await assertExactlyOnce(run.p, batches);
    run.phases.check = Date.now() - checking;
    t.diagnostic(
      `${t.name}: exactly once: ${JSON.stringify(outcome)}; phases (ms): ${JSON.stringify(run.phases)}`,
    );
  } catch (err) {
    failures.push((err as Error).message);
  }
  const unexpected = run.loops.flatMap((l) => l.unexpected);
  if (unexpected.length > 0) {
    failures.push(
      `the gateway answered ${unexpected.length} POSTs with neither 202, 429 nor 503, first: ` +
        unexpected
          .slice(0, 3)
          .map((u) => `${u.status} at +${u.at - run.faultAt} ms ${JSON.stringify(u.body)}`)
          .join('; '),
    );
  }
  const crashes = describeCrashes(run);
  if (crashes !== '') failures.push(`a service crashed (the test restarted it):\n${crashes}`);
  for (const e of expectations) if (!e.ok) failures.push(`${e.what}: ${e.detail}`);
  if (failures.length > 0) assert.fail(failures.join('\n'));
};

const withRun = async (name: string, body: (run: Run) => Promise<void>) => {
  const run = await startRun(name);
  const warming = Date.now();
  try {
    await waitUntil(
      'traffic accepted, alerts committed and offsets committed by the processors before the fault',
      async () =>
        accepted(run).length >= 40 && run.watcher.alerts.length >= 3 && (await committedTotal(run)) > 0,
      120000,
      250,
    );
    run.phases.warmUp = Date.now() - warming;
    await body(run);
  } catch (err) {
    // A wait that timed out may have been waiting on a service that crashed: say so.
    const crashes = describeCrashes(run);
    if (crashes === '' || run.checked) throw err;
    throw new Error(`${(err as Error).message}\nmeanwhile:\n${crashes}`, { cause: err });
  } finally {
    await Promise.all(run.loops.map((l) => l.stop(true).catch(() => undefined)));
    await run.watcher.stop().catch(() => undefined);
    await run.p.stop();
  }
};

test(
  // The leader of the busiest game-events partition dies (SIGKILL) while the gateway ingests and
  // the processors commit: its partitions get new leaders, the gateway answers 202 again and alerts
  // flow again while it is down; it restarts and rejoins every ISR; exactly once throughout.
  'SIGKILL of the leader of the busiest partitions, restarted later',
  { timeout: 270000 },
  async (t) => {
    await withRun('leader-kill', async (run) => {
      const { partitions, top, records } = await busiest(run);
      const victim = partitions[top]!.leader as NodeId;
      const led = await ledBy(run, victim);
      const committedBefore = await committedTotal(run);
      run.faultAt = Date.now();
      await cluster.kill(victim);
      const md = await waitUntil(
        `new leaders for partitions ${led.join(', ')} of kafka-${victim}`,
        async () => {
          const m = (await cluster.metadata([run.p.topics.events])).topics.get(run.p.topics.events)!;
          return led.every((p) => m[p]!.leader >= 0 && m[p]!.leader !== victim) ? m : undefined;
        },
        60000,
        100,
      );
      const leaderChangeMs = Date.now() - run.faultAt;
      const flowing = await rideThrough(run, run.faultAt, `kafka-${victim} died`, 45000);
      const committed = (await committedTotal(run)) > committedBefore;

      const restartAt = Date.now();
      await cluster.restart(victim);
      const restartMs = Date.now() - restartAt;
      await cluster.waitHealthy();
      const rejoinedMs = Date.now() - restartAt;
      await waitFlowing(run, Date.now(), `kafka-${victim} rejoined`);
      await finish(
        t,
        run,
        {
          victim,
          busiestPartition: top,
          recordsPerPartition: records.map((r) => r.high),
          ledPartitions: led,
          newLeaders: led.map((p) => md[p]!.leader),
          leaderChangeMs,
          downForMs: restartAt - run.faultAt,
          restartMs,
          rejoinedMs,
        },
        [
          flowing,
          { what: 'the processors committed offsets while the broker was down', ok: committed, detail: '' },
        ],
      );
    });
  },
);

test(
  // The active KRaft controller (the quorum's leader, not kcat's "(controller)", which names a
  // random broker) dies: another node takes the quorum over, the partitions the dead node led get
  // new leaders, traffic and alerts flow again before it restarts; exactly once throughout.
  'SIGKILL of the active controller',
  { timeout: 270000 },
  async (t) => {
    await withRun('controller-kill', async (run) => {
      const victim = await cluster.activeController();
      const led = await ledBy(run, victim);
      run.faultAt = Date.now();
      await cluster.kill(victim);
      // A live node at a newer epoch: the quorum elected another leader.
      const newController = await cluster.activeController();
      assert.notEqual(newController, victim, 'another node is the active controller');
      const controllerChangeMs = Date.now() - run.faultAt;
      await waitUntil(
        `new leaders for partitions ${led.join(', ')} of kafka-${victim}`,
        async () => {
          const m = (await cluster.metadata([run.p.topics.events])).topics.get(run.p.topics.events)!;
          return led.every((p) => m[p]!.leader >= 0 && m[p]!.leader !== victim);
        },
        60000,
        100,
      );
      const leaderChangeMs = Date.now() - run.faultAt;
      const flowing = await rideThrough(run, run.faultAt, `controller kafka-${victim} died`, 45000);
      const restartAt = Date.now();
      await cluster.restart(victim);
      await cluster.waitHealthy();
      const rejoinedMs = Date.now() - restartAt;
      await waitFlowing(run, Date.now(), `kafka-${victim} rejoined`);
      await finish(
        t,
        run,
        {
          victim,
          newController,
          ledPartitions: led,
          controllerChangeMs,
          leaderChangeMs,
          downForMs: restartAt - run.faultAt,
          rejoinedMs,
        },
        [flowing],
      );
    });
  },
);

test(
  // A broker that leads game-events partitions (not the active controller) is frozen (SIGSTOP):
  // its connections stay open and silent. Past the broker session timeout the controller fences
  // it out of every ISR; traffic and alerts flow again while it is still frozen; resumed
  // (SIGCONT), it catches up and rejoins every ISR; exactly once throughout.
  'a broker paused past its session timeout, then resumed',
  { timeout: 270000 },
  async (t) => {
    await withRun('broker-pause', async (run) => {
      const controller = await cluster.activeController();
      const { partitions, records } = await busiest(run);
      const byLoad = [...partitions].sort((a, b) => records[b.partition]!.high - records[a.partition]!.high);
      // The first broker the clients are given, unless it is the controller: the one most of
      // their questions go to first, and the one that once stalled the processors.
      const first: NodeId = 1; // cluster.brokers[0]
      const victim = (PAUSE_NODE ??
        (first !== controller && partitions.some((p) => p.leader === first)
          ? first
          : byLoad.find((p) => p.leader !== controller)!.leader)) as NodeId;
      const led = await ledBy(run, victim);
      run.faultAt = Date.now();
      cluster.pause(victim);
      try {
        await waitUntil(
          `kafka-${victim} out of every ISR and leading nothing`,
          async () => {
            const m = (await cluster.metadata([run.p.topics.events])).topics.get(run.p.topics.events)!;
            return m.every((p) => !p.isr.includes(victim) && p.leader !== victim && p.leader >= 0);
          },
          60000,
          200,
        );
        const fencedAfterMs = Date.now() - run.faultAt;
        const flowing = await rideThrough(run, run.faultAt, `kafka-${victim} froze`, 45000);
        const pausedForMs = Date.now() - run.faultAt;
        assert.ok(pausedForMs > BROKER_SESSION_TIMEOUT_MS, 'paused past the broker session timeout');
        const resumedAt = Date.now();
        cluster.resume(victim);
        await cluster.waitHealthy();
        const rejoinedMs = Date.now() - resumedAt;
        await waitFlowing(run, Date.now(), `kafka-${victim} resumed`);
        await finish(
          t,
          run,
          { victim, controller, ledPartitions: led, fencedAfterMs, pausedForMs, rejoinedMs },
          [flowing],
        );
      } finally {
        if (cluster.reachable().length < 3) cluster.resume(victim);
      }
    });
  },
);

test(
  // Two of three brokers die at once: min.insync.replicas=2 cannot be met (and the quorum is
  // lost), so the gateway answers 503 — never 202 — to what it is sent meanwhile; the game
  // servers retry the same eventIds; both brokers restart and everything accepted before and
  // after is processed and archived exactly once.
  'two brokers down at once: 503 while min.insync.replicas cannot be met, exactly once around it',
  { timeout: 270000 },
  async (t) => {
    await withRun('two-down', async (run) => {
      const { partitions, top } = await busiest(run);
      const first = partitions[top]!.leader as NodeId;
      const second = ((first % 3) + 1) as NodeId;
      run.faultAt = Date.now();
      await Promise.all([cluster.kill(first), cluster.kill(second)]);
      await waitUntil(
        'two 503s for POSTs sent after both brokers died, and twice the publish deadline',
        () =>
          run.loops.flatMap((l) => l.attempts).filter((a) => a.status === 503 && a.startedAt >= run.faultAt)
            .length >= 2 && Date.now() - run.faultAt >= 10000,
        60000,
        100,
      );
      const outageEnd = Date.now();
      // What was sent while only one broker lived cannot be on two replicas: no 202 for new events.
      const acceptedMeanwhile = accepted(run).filter(
        (b) =>
          b.acceptedBy.startedAt >= run.faultAt &&
          b.acceptedBy.endedAt < outageEnd &&
          !(b.acceptedBy.status === 202 && b.acceptedBy.accepted === 0),
      );
      const refused: Expectation = {
        what: 'no event accepted (202) for POSTs sent while two brokers were down',
        ok: acceptedMeanwhile.length === 0,
        detail: `accepted: ${acceptedMeanwhile.map((b) => `${b.loop}#${b.batch} (${b.acceptedBy.status})`).join(', ')}`,
      };
      const unavailableWhileDown = run.loops
        .flatMap((l) => l.attempts)
        .filter((a) => a.status === 503 && a.startedAt >= run.faultAt && a.endedAt < outageEnd).length;

      const restartAt = Date.now();
      await cluster.restart(first, second);
      const restartMs = Date.now() - restartAt;
      const flowing = await rideThrough(
        run,
        restartAt,
        `kafka-${first} and kafka-${second} restarted`,
        60000,
      );
      const recoveredAfterRestartMs = Date.now() - restartAt;
      const gatewayRecoveryAfterRestartMs = first202SentAfter(run.loops, restartAt) - restartAt;
      await cluster.waitHealthy();
      await waitFlowing(run, Date.now(), 'the cluster healed');
      await finish(
        t,
        run,
        {
          victims: [first, second],
          downForMs: restartAt - run.faultAt,
          unavailableWhileDown,
          restartMs,
          gatewayRecoveryAfterRestartMs,
          recoveredAfterRestartMs,
        },
        [refused, flowing],
      );
    });
  },
);
