// The user-state query without a broker or a socket: the store's view against the reference,
// the stream processor's answer through a task's life (not owner, restoring, running, revoked),
// and the HTTP answers (status, headers, bodies) for every case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '@tradewatch/shared/events';
import { createLogger } from '@tradewatch/shared/logger';
import { partitionForKey } from '@tradewatch/shared/partitioner';
import { ReferenceStates } from '../../../test/support/reference-rule.ts';
import { generateWorkload } from '../../../test/support/workload.ts';
import { FakeBroker, FakeGroupConsumer, FakeTransactionalProducer } from './support/fake-kafka.ts';
import { RuleEngine } from '@tradewatch/shared/rule-engine';
import { fixedRules } from '@tradewatch/shared/rule-feed';
import { RULE_HISTORY, RuleBook } from '@tradewatch/shared/rules';
import { IpInterner } from '@tradewatch/shared/ip-interner';
import { ProcessorHttpServer } from '../src/processor-http-server.ts';
import { ProcessorMetrics } from '../src/processor-metrics.ts';
import { ProcessorStats } from '../src/processor-stats.ts';
import { StreamProcessor } from '../src/stream-processor.ts';
import { UserStateStore } from '@tradewatch/shared/user-state-store';
import { UserStateQuery, type UserStateLookup, type UserStateSource } from '../src/user-state-query.ts';

const silent = createLogger('test', 'silent');

test("the store's view of every user is the reference state, after every event", () => {
  const events = generateWorkload({ users: 8, events: 4000, seed: 3, duplicateRate: 0.05 });
  const store = new UserStateStore(RULE_HISTORY, new IpInterner(), 8);
  const engine = new RuleEngine(new RuleBook(), RULE_HISTORY);
  const reference = new ReferenceStates(RULE_HISTORY);
  events.forEach((ev, i) => {
    engine.apply(store, ev, 0);
    reference.apply(ev);
    // The user just changed, and now and then everyone.
    const users = i % 500 === 0 ? reference.userIds() : [ev.userId];
    for (const id of users)
      assert.deepEqual(store.view(id) ?? null, reference.stateOf(id), `${id} after ${i}`);
  });
  const full = reference.userIds().map((id) => reference.stateOf(id)!);
  assert.ok(full.some((s) => s.knownIps.length === RULE_HISTORY && s.trades.length === 20));
  assert.ok(
    full.some((s) => new Set(s.knownIps).size < s.knownIps.length),
    'repeated past IPs are kept',
  );
  assert.equal(store.view('nobody'), undefined);
  assert.equal(store.has('nobody'), false, 'a query adds no user');
});

/** A stream processor on fakes of the Kafka port whose restore waits until the test releases it. */
const processorOnFakes = () => {
  const broker = new FakeBroker();
  broker.createTopic('events', 2);
  const consumer = new FakeGroupConsumer(broker, 'g');
  const releases: (() => void)[] = [];
  const processor = new StreamProcessor({
    consumer,
    createProducer: () => new FakeTransactionalProducer(broker, 't'),
    restorer: {
      restore: () => new Promise<number>((resolve) => releases.push(() => resolve(0))),
      cancel: () => undefined,
    },
    admin: broker.admin(),
    log: silent,
    stats: new ProcessorStats(),
    topics: {
      events: 'events',
      alerts: 'alerts',
      shadowAlerts: 'alerts.shadow',
      changelog: 'changelog',
      deadLetters: 'dlq',
    },
    groupId: 'g',
    rules: fixedRules(new RuleBook()),
    history: RULE_HISTORY,
    commitIntervalMs: 60000,
    onFatal: (err) => assert.fail(String(err)),
  });
  return {
    broker,
    consumer,
    processor,
    /** Waits for a restore to start, then lets every restore started so far finish. */
    restore: async () => {
      const tick = () => new Promise((r) => setImmediate(r));
      for (let i = 0; releases.length === 0; i++) {
        assert.ok(i < 1000, 'a restore started');
        await tick();
      }
      for (const release of releases.splice(0)) release();
      for (let i = 0; i < 5; i++) await tick();
    },
  };
};

test('a task answers restoring until its state is restored, then its applied state and offset', async () => {
  const f = processorOnFakes();
  await f.processor.start();
  assert.deepEqual(f.processor.lookupUser(0, 'u1'), { status: 'not_owner' }, 'before any assignment');

  const p0 = { topic: 'events', partition: 0 };
  f.consumer.assign([p0]);
  // The task starts on assignment, before any record: the restore is under way.
  assert.deepEqual(f.processor.lookupUser(0, 'u1'), { status: 'restoring' });
  assert.deepEqual(f.processor.lookupUser(1, 'u1'), { status: 'not_owner' });
  await f.restore();
  assert.deepEqual(f.processor.lookupUser(0, 'u1'), { status: 'running', appliedOffset: null, state: null });

  const events = generateWorkload({ users: 3, events: 60, seed: 9, duplicateRate: 0 });
  f.broker.append(
    events.map((e) => ({ topic: 'events', partition: 0, key: e.userId, value: encodeEvent(e) })),
  );
  f.consumer.batchSize = 40;
  await f.consumer.pump();
  const reference = new ReferenceStates();
  for (const ev of events.slice(0, 40)) reference.apply(ev);
  const user = events[0]!.userId;
  assert.deepEqual(f.processor.lookupUser(0, user), {
    status: 'running',
    appliedOffset: 40,
    state: reference.stateOf(user),
  });

  f.consumer.revoke([p0]);
  f.consumer.assign([{ topic: 'events', partition: 1 }]);
  assert.deepEqual(f.processor.lookupUser(0, user), { status: 'not_owner' });
  assert.deepEqual(f.processor.lookupUser(1, user), { status: 'restoring' });
  await f.restore();
  await f.processor.stop();
  assert.deepEqual(f.processor.lookupUser(1, user), { status: 'not_owner' }, 'after stop');
});

/** The HTTP server over a source that answers what the test sets per partition. */
const serverWith = (answers: Map<number, UserStateLookup>, partitions = 6) => {
  const asked: [number, string][] = [];
  const source: UserStateSource = {
    lookupUser: (partition, userId) => {
      asked.push([partition, userId]);
      return answers.get(partition) ?? { status: 'not_owner' };
    },
  };
  const metrics = new ProcessorMetrics(new ProcessorStats(), { instance: 'p1' });
  metrics.close();
  const server = new ProcessorHttpServer({
    metrics,
    prometheus: {
      prometheusText: () => Promise.resolve('tradewatch_processor_events_total 0\n'),
      prometheusContentType: 'text/plain; version=0.0.4; charset=utf-8',
    },
    userState: new UserStateQuery({ source, partitions, instance: 'p1' }),
    log: silent,
  });
  const get = (path: string, method = 'GET') => {
    const a = server.answer(method, path);
    const isJson = a.headers['content-type']?.startsWith('application/json') === true;
    return { ...a, json: (isJson ? JSON.parse(a.body) : {}) as Record<string, unknown> };
  };
  return { get, asked, respond: (path: string, method = 'GET') => server.respond(method, path) };
};

test('GET /v1/users/:userId/state: 200 with the state, 503 restoring, 421 not owner', () => {
  const state = { sessionIp: '10.0.0.1', knownIps: ['10.0.0.2', '10.0.0.1'], trades: [5, 7], median: 6 };
  const user = 'player-0000042';
  const p = partitionForKey(user, 6);
  const other = 'someone-else';
  const q = partitionForKey(other, 6);
  assert.notEqual(p, q);
  const answers = new Map<number, UserStateLookup>([
    [p, { status: 'running', appliedOffset: 120, state }],
    [q, { status: 'restoring' }],
  ]);
  const { get, asked } = serverWith(answers);

  const ok = get(`/v1/users/${user}/state`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['cache-control'], 'no-store');
  assert.deepEqual(ok.json, {
    userId: user,
    partition: p,
    instance: 'p1',
    status: 'running',
    appliedOffset: 120,
    state,
  });
  assert.deepEqual(asked[0], [p, user], 'asked for the partition the gateway writes the user to');

  const restoring = get(`/v1/users/${other}/state?x=1`);
  assert.equal(restoring.status, 503);
  assert.equal(restoring.headers['retry-after'], '1');
  assert.deepEqual(
    { ...restoring.json, message: undefined },
    {
      error: 'restoring',
      message: undefined,
      userId: other,
      partition: q,
      instance: 'p1',
      status: 'restoring',
    },
  );
  assert.match(String(restoring.json.message), /restored/);

  answers.set(q, { status: 'not_owner' });
  const misdirected = get(`/v1/users/${other}/state`);
  assert.equal(misdirected.status, 421);
  assert.equal(misdirected.json.error, 'not_owner');
  assert.equal(misdirected.json.status, 'not_owner');
  assert.equal(misdirected.json.partition, q);

  answers.set(q, { status: 'running', appliedOffset: null, state: null });
  assert.deepEqual(get(`/v1/users/${other}/state`).json.state, null);
});

test('userIds follow the event contract and are percent-decoded; other paths are 404, other methods 405', async () => {
  const everywhere = new Map<number, UserStateLookup>(
    [0, 1, 2, 3, 4, 5].map((p) => [p, { status: 'running', appliedOffset: 1, state: null }]),
  );
  const { get, respond } = serverWith(everywhere);
  const ok = (id: string) => {
    const a = get(`/v1/users/${encodeURIComponent(id)}/state`);
    assert.equal(a.status, 200, id);
    assert.equal(a.json.userId, id);
  };
  ok('a');
  ok('x'.repeat(128));
  ok('joueur éàü/玩家 🎮');
  ok('a/b?c#d%');

  const bad = (path: string) => {
    const a = get(path);
    assert.equal(a.status, 400, path);
    assert.equal(a.json.error, 'invalid_user_id');
  };
  bad('/v1/users//state');
  bad(`/v1/users/${'x'.repeat(129)}/state`);
  bad('/v1/users/a%00b/state');
  bad('/v1/users/a%0Ab/state');
  bad('/v1/users/a%C2%85b/state'); // C1 control character
  bad('/v1/users/%E0%A4%A/state'); // not UTF-8
  bad('/v1/users/%ZZ/state');

  for (const path of ['/', '/v1/users/a', '/v1/users/a/state/x', '/v1/users/a/b/state', '/metricsx']) {
    const a = get(path);
    assert.equal(a.status, 404, path);
    assert.equal(a.json.error, 'not_found');
  }
  const post = get('/v1/users/a/state', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET');

  const prom = await respond('/metrics');
  assert.equal(prom.status, 200);
  assert.equal(prom.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(prom.body, /^tradewatch_processor_events_total 0$/m);
  assert.equal((await respond('/metrics', 'POST')).status, 405);
  assert.equal((await respond('/v1/users/a/state', 'POST')).status, 405);
  const metricsJson = get('/metrics.json');
  assert.equal(metricsJson.status, 200);
  assert.equal(metricsJson.json.instance, 'p1');
});
