// The rules as the desk manages them: every version read from the rules topic (shared/src/
// rule-feed.ts), and new versions written to it one at a time, each made from what is known
// once everything written before has been read (so version = previous + 1). Written against the
// RuleRegistry port; KafkaRuleRegistry implements it on the Kafka port.
import type { Producer } from '@tradewatch/shared/kafka-port';
import type { Logger } from '@tradewatch/shared/logger';
import type { RuleFeed } from '@tradewatch/shared/rule-feed';
import { encodeRule, SEED_RULE, type RuleDefinition } from '@tradewatch/shared/rules';
import { DeskError } from './errors.ts';

export interface RuleRegistry {
  /** Every version of every rule known, highest version first per rule. */
  versions(): Promise<RuleDefinition[]>;
  /**
   * Makes a version from the versions known (`make` throws to refuse: nothing is written) and
   * writes it; resolves with it once it has been read back from the topic.
   */
  change(make: (versions: readonly RuleDefinition[]) => RuleDefinition): Promise<RuleDefinition>;
}

export interface KafkaRuleRegistryOptions {
  feed: RuleFeed;
  producer: Pick<Producer, 'send' | 'close'>;
  topic: string;
  log: Logger;
}

export class KafkaRuleRegistry implements RuleRegistry {
  private readonly o: KafkaRuleRegistryOptions;
  /** Changes run one after another: each reads what the previous one wrote. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(o: KafkaRuleRegistryOptions) {
    this.o = o;
  }

  /**
   * Puts the seed rule on the topic if the topic has no version 1 of it, so that the audit trail
   * (rule_versions) holds every version in force, the built-in one included.
   */
  async seed(): Promise<void> {
    await this.o.feed.caughtUp();
    if (this.o.feed.isOnTopic(SEED_RULE.ruleId, SEED_RULE.version)) return;
    await this.write(SEED_RULE);
    this.o.log.info({ ruleId: SEED_RULE.ruleId }, 'seed rule written to the rules topic');
  }

  async versions(): Promise<RuleDefinition[]> {
    await this.o.feed.caughtUp();
    return this.o.feed.book.all();
  }

  change(make: (versions: readonly RuleDefinition[]) => RuleDefinition): Promise<RuleDefinition> {
    const run = this.queue.then(async () => {
      await this.o.feed.caughtUp();
      const d = make(this.o.feed.book.all());
      await this.write(d);
      const stored = this.o.feed.book.versions(d.ruleId).find((v) => v.version === d.version);
      if (stored === undefined || encodeRule(stored) !== encodeRule(d)) {
        // Another writer (a second desk) got this version number first: its definition stands.
        throw new DeskError(
          'conflict',
          `version ${d.version} of ${d.ruleId} was written by someone else meanwhile; retry`,
        );
      }
      this.o.log.info(
        { ruleId: d.ruleId, version: d.version, mode: d.mode, author: d.author },
        'rule version written',
      );
      return stored;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(d: RuleDefinition): Promise<void> {
    await this.o.producer.send([{ topic: this.o.topic, key: d.ruleId, value: encodeRule(d) }]);
    await this.o.feed.caughtUp();
  }

  async close(): Promise<void> {
    await this.queue;
    await this.o.feed.stop();
    await this.o.producer.close();
  }
}
