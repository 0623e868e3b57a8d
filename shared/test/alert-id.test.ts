// Known answers for alert ids: RFC 9562 name-based (v5) UUIDs of the rule and the trade's
// eventId under the alert namespace, computed independently (Python's uuid.uuid5), so that a
// change to the derivation — which would change every alert's id — cannot pass unnoticed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveAlertId } from '@tradewatch/shared/alerts';

test('deriveAlertId gives the RFC 9562 v5 UUIDs computed elsewhere', () => {
  // uuid.uuid5(uuid.UUID('5b3f4c1e8a2d4e6f9b7c0d1e2f3a4b5c'), 'large-trade-new-ip\x00g1-43')
  assert.equal(deriveAlertId('large-trade-new-ip', 'g1-43'), 'b1e8a36e-43b1-50f6-8ead-ce33cd37c0fd');
  // Non-ASCII eventIds are hashed as UTF-8.
  assert.equal(deriveAlertId('large-trade-new-ip', 'é-ü'), '7a8d4843-c5ef-5f70-bcd2-4be2bf3457eb');
});

test('the rule and the trade both decide the id, and the separator keeps them apart', () => {
  const id = deriveAlertId('large-trade-new-ip', 't-1');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(deriveAlertId('large-trade-new-ip', 't-1'), id);
  assert.notEqual(deriveAlertId('large-trade-new-ip', 't-2'), id);
  assert.notEqual(deriveAlertId('other-rule', 't-1'), id);
  assert.notEqual(deriveAlertId('a', 'bc'), deriveAlertId('ab', 'c'));
});
