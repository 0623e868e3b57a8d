// The broker watch against the real broker, and against what a frozen broker looks like on the
// network: a listener that accepts connections and never answers. The real broker answers
// within the window; the silent one is reported silent after it, every tick while it stays so,
// and answering again once it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { BrokerWatch, brokerKey } from '@tradewatch/shared/kafka-broker-watch';
import { BROKERS, waitUntil } from '../../test/support/harness.ts';

const BROKER = BROKERS[0]!;

test('a broker that accepts and never answers is silent until it answers', async () => {
  // Holds every connection open; answers ApiVersions only once `answering` is set.
  let answering = false;
  const held: Socket[] = [];
  const frozen = createServer((socket) => {
    held.push(socket);
    socket.on('data', (chunk: Buffer) => {
      if (!answering || chunk.length < 12) return;
      const reply = Buffer.alloc(10);
      reply.writeInt32BE(6, 0);
      reply.writeInt32BE(chunk.readInt32BE(8), 4);
      socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
  const port = (frozen.address() as { port: number }).port;
  const frozenAddress = `127.0.0.1:${port}`;

  const changes: string[] = [];
  const ticks: string[][] = [];
  const watch = new BrokerWatch({
    brokers: [BROKER, frozenAddress],
    clientId: 'watch-test',
    intervalMs: 200,
    silentAfterMs: 1000,
    onChange: (b, silent) => changes.push(`${brokerKey(b)} ${silent ? 'silent' : 'answering'}`),
    onSilentTick: (silent) => ticks.push(silent.map(brokerKey)),
  });
  try {
    const startedAt = Date.now();
    watch.start();
    await waitUntil('the frozen listener reported silent', () => changes.length > 0, 10000, 50);
    assert.ok(Date.now() - startedAt >= 1000, 'not before the window has passed');
    assert.deepEqual(changes, [`${frozenAddress} silent`]);
    assert.equal(watch.isSilent({ host: '127.0.0.1', port }), true);
    const [host, brokerPort] = BROKER.split(':');
    assert.equal(watch.isSilent({ host: host!, port: Number(brokerPort) }), false, 'the real broker answers');
    await waitUntil('three silent ticks', () => ticks.length >= 3, 10000, 50);
    assert.ok(ticks.every((t) => t.length === 1 && t[0] === frozenAddress));
    // It asked again on new connections while silent.
    assert.ok(held.length >= 2, `connections opened: ${held.length}`);

    answering = true;
    await waitUntil('the listener answering again', () => changes.length === 2, 10000, 50);
    assert.equal(changes[1], `${frozenAddress} answering`);
    assert.equal(watch.isSilent({ host: '127.0.0.1', port }), false);
  } finally {
    watch.stop();
    for (const s of held) s.destroy();
    await new Promise((resolve) => frozen.close(resolve));
  }
});
