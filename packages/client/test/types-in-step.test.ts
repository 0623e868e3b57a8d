// The client restates the gateway's answer types on purpose (it is published alone, and must
// not depend on the gateway's code). This file keeps the two in step: the type check of
// `npm test` fails as soon as either side changes without the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ArchivedStage as GatewayArchived,
  EventStatus as GatewayStatus,
  ProcessedStage as GatewayProcessed,
} from '../../../services/gateway/src/event-status.ts';
import type { ArchivedStage, EventStatus, ProcessedStage } from '../src/types.ts';

/** true only when A and B are each assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const inStep: [
  Same<EventStatus, GatewayStatus>,
  Same<ProcessedStage, GatewayProcessed>,
  Same<ArchivedStage, GatewayArchived>,
] = [true, true, true];

test("the client's event-status types are the gateway's", () => {
  assert.deepEqual(inStep, [true, true, true]);
});
