// The library's clients, subclassed to ask brokers in turn.
//
// The library asks for metadata (and API versions) on the first broker of its list (the
// bootstrap brokers, then the discovered ones) that it can connect to, and a retry inside a
// send asks again with attempt 0: the same broker. A broker that froze (SIGSTOP, a stalled disk)
// still accepts connections, so every refresh would wait out the request timeout on it, until it
// came back, although its partitions had new leaders after its session timeout. These subclasses
// start each question one broker further along the list: one that timed out on a frozen broker
// is asked of the next.
//
// With a BrokerWatch (kafka-broker-watch.ts), brokers that have stopped answering are asked last.
import { Admin, Consumer, kGetBootstrapConnection, Producer as LibraryProducer } from '@platformatic/kafka';
import { type BrokerWatch, bootstrapOrder, type BrokerAddress } from '../kafka-broker-watch.ts';

type BootstrapCallback = Parameters<Admin[typeof kGetBootstrapConnection]>[0];

/** What the subclasses below share: a turn, and the watch that says which brokers are silent. */
interface Turning {
  turn: number;
  brokerWatch: BrokerWatch | undefined;
  readonly connections: Admin['connections'];
  readonly currentMetadata: Admin['currentMetadata'];
}

const turnBootstrap = (
  self: Turning,
  bootstrap: readonly BrokerAddress[],
  callback: BootstrapCallback,
  attempt: number,
): void => {
  const discovered = [...(self.currentMetadata?.brokers.values() ?? [])].map((b) => ({
    host: b.host,
    port: b.port,
  }));
  const watch = self.brokerWatch;
  const order = bootstrapOrder(
    [...bootstrap, ...discovered],
    attempt + self.turn++,
    (b) => watch?.isSilent(b) ?? false,
  );
  self.connections.getFirstAvailable(order, callback);
};

export class TurningAdmin extends Admin implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

export class PkProducer extends LibraryProducer<Buffer, Buffer, string, Buffer> implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

export class TurningConsumer extends Consumer implements Turning {
  turn = 0;
  brokerWatch: BrokerWatch | undefined;
  bootstrap: readonly BrokerAddress[] = [];
  override [kGetBootstrapConnection](callback: BootstrapCallback, attempt = 0): void {
    turnBootstrap(this, this.bootstrap, callback, attempt);
  }
}

export type LibraryClient = TurningAdmin | PkProducer | TurningConsumer;
