/**
 * The confirmation store's transitions: the plan-then-confirm step of slash commands and its
 * two-person rule (the initiator confirms first; a second, different responder for two-person
 * actions; never the initiator twice), exactly-once, and expiry.
 */
import { describe, expect, it } from 'vitest';
import { ConfirmationStore, type NewConfirmation } from '../../src/stores/confirmationStore.js';

const ALICE = 'discord:100000000000000001';
const CAROL = 'discord:100000000000000003';
const DAVE = 'discord:100000000000000004';

function item(requiredConfirmations: 1 | 2): NewConfirmation {
  return { command: '/isolate', initiatedBy: ALICE, actionId: 'isolate-pod', input: { namespace: 'web', pod: 'web-1' }, reason: 'web shell', incidentId: 'manual-1', summary: 'isolate pod web/web-1', requiredConfirmations };
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ConfirmationStore', () => {
  it('one-person: only the initiator confirms, once', () => {
    const store = new ConfirmationStore();
    const { confirmId } = store.add(item(1));
    expect(store.confirm(confirmId, CAROL)).toMatchObject({ outcome: 'refused', reason: 'not-initiator' });
    const done = store.confirm(confirmId, ALICE);
    expect(done).toMatchObject({ outcome: 'confirmed', item: { confirmations: [{ by: ALICE }] } });
    expect(store.confirm(confirmId, ALICE)).toEqual({ outcome: 'expired' });
    expect(store.peek(confirmId)).toBeUndefined();
  });

  it('two-person: the initiator, then a different responder; the initiator or a repeat voter never counts twice', () => {
    const store = new ConfirmationStore();
    const { confirmId } = store.add(item(2));
    expect(store.confirm(confirmId, CAROL)).toMatchObject({ outcome: 'refused', reason: 'not-initiator' });
    expect(store.confirm(confirmId, ALICE)).toMatchObject({ outcome: 'pending-second' });
    // The initiator again (either spelling of the id) is refused: they cannot be the second approver.
    expect(store.confirm(confirmId, ALICE)).toMatchObject({ outcome: 'refused', reason: 'initiator' });
    expect(store.confirm(confirmId, ALICE.replace('discord:', ''))).toMatchObject({ outcome: 'refused', reason: 'initiator' });
    expect(store.peek(confirmId)?.confirmations).toHaveLength(1);
    const done = store.confirm(confirmId, CAROL);
    expect(done).toMatchObject({ outcome: 'confirmed' });
    expect(done.outcome === 'confirmed' && done.item.confirmations.map((c) => c.by)).toEqual([ALICE, CAROL]);
    // Exactly once: a third responder finds nothing.
    expect(store.confirm(confirmId, DAVE)).toEqual({ outcome: 'expired' });
  });

  it('cancel: before the initiator confirmed only they can; afterwards any responder may decline', () => {
    const store = new ConfirmationStore();
    const first = store.add(item(2));
    expect(store.cancel(first.confirmId, CAROL)).toMatchObject({ outcome: 'refused', reason: 'not-initiator' });
    expect(store.cancel(first.confirmId, ALICE)).toMatchObject({ outcome: 'cancelled' });
    expect(store.confirm(first.confirmId, ALICE)).toEqual({ outcome: 'expired' });

    const second = store.add(item(2));
    store.confirm(second.confirmId, ALICE);
    expect(store.cancel(second.confirmId, CAROL)).toMatchObject({ outcome: 'cancelled' });
    expect(store.confirm(second.confirmId, DAVE)).toEqual({ outcome: 'expired' });
  });

  it('expires; the initiator’s confirmation gives the second responder the full time again', () => {
    const c = clock();
    const store = new ConfirmationStore({ ttlMs: 60_000, now: c.now });
    const stale = store.add(item(1));
    c.advance(60_000);
    expect(store.confirm(stale.confirmId, ALICE)).toEqual({ outcome: 'expired' });

    const two = store.add(item(2));
    c.advance(50_000);
    expect(store.confirm(two.confirmId, ALICE)).toMatchObject({ outcome: 'pending-second' });
    c.advance(50_000); // 100 s after the plan, 50 s after the initiator's confirmation
    expect(store.confirm(two.confirmId, CAROL)).toMatchObject({ outcome: 'confirmed' });
  });
});
