/**
 * The behaviours every ApprovalStore must have, run against each implementation
 * (fileApprovalStore.test.ts, s3ApprovalStore.test.ts). `harness()` gives fresh, empty storage;
 * `open()` gives another store instance on that same storage (a restart, or another replica).
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, SentinelError, ValidationError } from '../../src/errors.js';
import {
  type ApprovalRecord,
  type ApprovalStore,
  type DecideResult,
  newApprovalRecord,
} from '../../src/stores/approvalStore.js';
import type { StoreLogger } from '../../src/stores/storeIo.js';

export interface ApprovalStoreHarness {
  open(options?: { now?: () => Date; logger?: StoreLogger }): ApprovalStore;
  /** Replaces the stored record with `text`; returns the location an error must name. */
  corrupt(approvalId: string, text: string): Promise<string>;
}

export const T0 = new Date('2026-03-01T10:00:00.000Z');
export const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAe1Xexample-task-token-secret';

export function pendingRecord(overrides: { requiredApprovals?: 1 | 2; timeoutMs?: number; taskToken?: string } = {}) {
  return newApprovalRecord({
    taskToken: overrides.taskToken ?? TOKEN,
    incidentId: 'inc-0123456789abcdef0123',
    executionName: 'exec-1',
    proposedAction: { action: 'isolate-pod', input: { namespace: 'web', pod: 'web-1' }, summary: 'Isolate pod web/web-1' },
    requiredApprovals: overrides.requiredApprovals ?? 1,
    now: T0,
    timeoutMs: overrides.timeoutMs ?? 15 * 60_000,
  });
}

export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

function count(results: DecideResult[], outcome: DecideResult['outcome']): number {
  return results.filter((r) => r.outcome === outcome).length;
}

function recordOf(result: DecideResult): ApprovalRecord {
  if (result.outcome === 'not-found') throw new Error('expected a record, got not-found');
  return result.record;
}

export function approvalStoreContract(harness: () => Promise<ApprovalStoreHarness>): void {
  describe('create and get', () => {
    it('reads back the record it created, task token and defaults included', async () => {
      const store = (await harness()).open();
      const input = pendingRecord();
      const created = await store.create(input);
      expect(created).toMatchObject({ ...input, status: 'pending', approvals: [], revision: 1 });
      expect(await store.get(created.approvalId)).toEqual(created);
      expect(created.approvalId).toMatch(/^[A-Za-z0-9_-]{16,24}$/);
    });

    it('answers undefined for an unknown id and for an id that is not one', async () => {
      const store = (await harness()).open();
      expect(await store.get('AAAAAAAAAAAAAAAAAAAA')).toBeUndefined();
      expect(await store.get('../../etc/passwd')).toBeUndefined();
    });

    it('refuses a second create with the same id (ConflictError) and keeps the first', async () => {
      const store = (await harness()).open();
      const first = await store.create(pendingRecord());
      const err = await store.create({ ...pendingRecord(), approvalId: first.approvalId, incidentId: 'other' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((await store.get(first.approvalId))?.incidentId).toBe(first.incidentId);
    });

    it('refuses an invalid record with a ValidationError that does not echo the task token', async () => {
      const store = (await harness()).open();
      const err = await store.create({ ...pendingRecord(), requiredApprovals: 3 as 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toMatch(/requiredApprovals/);
      expect((err as Error).message).not.toContain(TOKEN);
    });
  });

  describe('restart', () => {
    it('a new store instance sees the record, its vote and its message, and can finish the decision', async () => {
      const h = await harness();
      const before = h.open();
      const { approvalId } = await before.create(pendingRecord({ requiredApprovals: 2 }));
      await before.attachMessage(approvalId, '123456789012345678', '223456789012345678');
      expect((await before.decide(approvalId, { by: 'alice', decision: 'block', at: at(10) })).outcome).toBe('pending-second');

      const after = h.open();
      const reread = await after.get(approvalId);
      expect(reread).toMatchObject({ channelId: '123456789012345678', messageId: '223456789012345678', status: 'pending' });
      expect(reread?.approvals).toEqual([{ by: 'alice', at: at(10).toISOString(), decision: 'block' }]);
      expect(await after.listPending()).toEqual([reread]);

      const second = await after.decide(approvalId, { by: 'bob', decision: 'block', at: at(20) });
      expect(second.outcome).toBe('decided');
      expect(recordOf(second).decision).toMatchObject({ decision: 'block', by: ['alice', 'bob'], at: at(20).toISOString() });
      expect(await h.open().listPending()).toEqual([]);
    });
  });

  describe('concurrent decide', () => {
    it('of 20 concurrent decisions on two store instances exactly one decides; the others are told who did', async () => {
      const h = await harness();
      const stores = [h.open(), h.open()];
      const { approvalId } = await stores[0]!.create(pendingRecord());

      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stores[i % 2]!.decide(approvalId, { by: `user-${i}`, decision: i % 3 === 0 ? 'allow' : 'block', at: at(30) }),
        ),
      );

      expect(count(results, 'decided')).toBe(1);
      expect(count(results, 'already-decided')).toBe(19);
      const winner = recordOf(results.find((r) => r.outcome === 'decided')!).decision!;
      expect(winner.by).toHaveLength(1);
      for (const r of results) expect(recordOf(r).decision).toEqual(winner);

      const stored = await h.open().get(approvalId);
      expect(stored?.status).toBe('decided');
      expect(stored?.decision).toEqual(winner);
      expect(stored?.audit.filter((e) => e.what === 'decided')).toHaveLength(1);
    });

    it('with two approvers required, 20 concurrent clicks give one counted vote, one decision and 18 already-decided', async () => {
      const h = await harness();
      const stores = [h.open(), h.open()];
      const { approvalId } = await stores[0]!.create(pendingRecord({ requiredApprovals: 2 }));

      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => stores[i % 2]!.decide(approvalId, { by: `user-${i}`, decision: 'allow', at: at(30) })),
      );

      expect(count(results, 'decided')).toBe(1);
      expect(count(results, 'pending-second')).toBe(1);
      expect(count(results, 'already-decided')).toBe(18);
      const decision = recordOf(results.find((r) => r.outcome === 'decided')!).decision!;
      expect(new Set(decision.by).size).toBe(2);
      expect((await h.open().get(approvalId))?.decision).toEqual(decision);
    });
  });

  describe('two-person rule', () => {
    it('a second click by the same person is refused, whatever it chooses, and audited on the record', async () => {
      const store = (await harness()).open();
      const { approvalId } = await store.create(pendingRecord({ requiredApprovals: 2 }));
      const first = await store.decide(approvalId, { by: 'alice', decision: 'block', at: at(1) });
      expect(first).toMatchObject({ outcome: 'pending-second', counted: true });

      for (const decision of ['block', 'allow'] as const) {
        const again = await store.decide(approvalId, { by: 'alice', decision, at: at(2) });
        expect(again).toMatchObject({ outcome: 'refused', reason: 'already-voted' });
        expect(recordOf(again).approvals).toHaveLength(1);
      }
      // The same person named the other way (`discord:<id>` and `<id>`) is still one person.
      const { approvalId: other } = await store.create(pendingRecord({ requiredApprovals: 2 }));
      await store.decide(other, { by: 'discord:123456789012345678', decision: 'block', at: at(1) });
      expect(await store.decide(other, { by: '123456789012345678', decision: 'block', at: at(2) })).toMatchObject({ outcome: 'refused', reason: 'already-voted' });

      const stored = await store.get(approvalId);
      expect(stored?.status).toBe('pending');
      expect(stored?.audit.filter((e) => e.what === 'vote-refused').map((e) => e.who)).toEqual(['alice', 'alice']);
    });

    it('whoever started the action can neither approve it nor be its second approver; two others decide', async () => {
      const h = await harness();
      const store = h.open();
      const { approvalId } = await store.create({ ...pendingRecord({ requiredApprovals: 2 }), initiatedBy: 'discord:111111111111111111' });
      const byInitiator = await store.decide(approvalId, { by: 'discord:111111111111111111', decision: 'block', at: at(1) });
      expect(byInitiator).toMatchObject({ outcome: 'refused', reason: 'initiator' });
      expect(recordOf(byInitiator).approvals).toEqual([]);

      expect((await store.decide(approvalId, { by: 'discord:222222222222222222', decision: 'block', at: at(2) })).outcome).toBe('pending-second');
      // After the first approval, the initiator still cannot be the second (in either form of their id).
      expect(await store.decide(approvalId, { by: '111111111111111111', decision: 'block', at: at(3) })).toMatchObject({ outcome: 'refused', reason: 'initiator' });
      const decided = await store.decide(approvalId, { by: 'discord:333333333333333333', decision: 'block', at: at(4) });
      expect(decided.outcome).toBe('decided');
      expect(recordOf(decided).decision?.by).toEqual(['discord:222222222222222222', 'discord:333333333333333333']);

      // Kept across a restart, and audited on the record.
      const reread = await h.open().get(approvalId);
      expect(reread?.initiatedBy).toBe('discord:111111111111111111');
      expect(reread?.audit.filter((e) => e.what === 'vote-refused').map((e) => e.who)).toEqual(['discord:111111111111111111', '111111111111111111']);
    });

    it('two people disagreeing decide nothing; a third who agrees with one of them decides', async () => {
      const store = (await harness()).open();
      const { approvalId } = await store.create(pendingRecord({ requiredApprovals: 2 }));
      await store.decide(approvalId, { by: 'alice', decision: 'allow', at: at(1) });
      const split = await store.decide(approvalId, { by: 'bob', decision: 'block', at: at(2) });
      expect(split).toMatchObject({ outcome: 'pending-second', counted: true });
      expect(recordOf(split).status).toBe('pending');
      expect(recordOf(split).approvals.map((v) => [v.by, v.decision])).toEqual([
        ['alice', 'allow'],
        ['bob', 'block'],
      ]);

      const third = await store.decide(approvalId, { by: 'carol', decision: 'block', at: at(3) });
      expect(third.outcome).toBe('decided');
      expect(recordOf(third).decision).toMatchObject({ decision: 'block', by: ['bob', 'carol'] });

      const late = await store.decide(approvalId, { by: 'dave', decision: 'allow', at: at(4) });
      expect(late.outcome).toBe('already-decided');
      expect(recordOf(late).decision?.by).toEqual(['bob', 'carol']);
    });

    it('one approval decides when one is required; the caller can raise the requirement to two, not lower it', async () => {
      const store = (await harness()).open();
      const single = await store.create(pendingRecord({ requiredApprovals: 1 }));
      expect((await store.decide(single.approvalId, { by: 'alice', decision: 'allow', at: at(1) })).outcome).toBe('decided');

      const raised = await store.create(pendingRecord({ requiredApprovals: 1 }));
      const r1 = await store.decide(raised.approvalId, { by: 'alice', decision: 'allow', at: at(1), requiredApprovals: 2 });
      expect(r1.outcome).toBe('pending-second');
      expect(recordOf(r1).requiredApprovals).toBe(2);

      const kept = await store.create(pendingRecord({ requiredApprovals: 2 }));
      const k1 = await store.decide(kept.approvalId, { by: 'alice', decision: 'allow', at: at(1), requiredApprovals: 1 });
      expect(k1.outcome).toBe('pending-second');
    });
  });

  describe('expiry and failure', () => {
    it('a decision after the deadline expires the approval; at the deadline itself it still counts', async () => {
      const store = (await harness()).open();
      const late = await store.create(pendingRecord({ timeoutMs: 60_000 }));
      const result = await store.decide(late.approvalId, { by: 'alice', decision: 'block', at: at(61) });
      expect(result.outcome).toBe('expired');
      expect((await store.get(late.approvalId))?.status).toBe('expired');
      expect((await store.decide(late.approvalId, { by: 'bob', decision: 'block', at: at(30) })).outcome).toBe('expired');

      const onTime = await store.create(pendingRecord({ timeoutMs: 60_000 }));
      expect((await store.decide(onTime.approvalId, { by: 'alice', decision: 'block', at: at(60) })).outcome).toBe('decided');
    });

    it('markExpired closes a pending approval and leaves a decided one alone', async () => {
      const store = (await harness()).open({ now: () => at(3600) });
      const pending = await store.create(pendingRecord());
      const decided = await store.create(pendingRecord());
      await store.decide(decided.approvalId, { by: 'alice', decision: 'allow', at: at(1) });

      expect((await store.markExpired(pending.approvalId)).status).toBe('expired');
      expect((await store.markExpired(decided.approvalId)).status).toBe('decided');
      expect(await store.listPending()).toEqual([]);
      await expect(store.markExpired('AAAAAAAAAAAAAAAAAAAA')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('markFailed keeps the decision and the reason; a later click is told it failed', async () => {
      const store = (await harness()).open({ now: () => at(5) });
      const { approvalId } = await store.create(pendingRecord());
      await store.decide(approvalId, { by: 'alice', decision: 'block', at: at(1) });
      const failed = await store.markFailed(approvalId, 'SendTaskSuccess: TaskTimedOut');
      expect(failed).toMatchObject({ status: 'failed', failure: { at: at(5).toISOString(), reason: 'SendTaskSuccess: TaskTimedOut' } });
      expect(failed.decision?.by).toEqual(['alice']);

      const click = await store.decide(approvalId, { by: 'bob', decision: 'block', at: at(6) });
      expect(click.outcome).toBe('failed');
    });
  });

  describe('other operations', () => {
    it('decide on an unknown approval is not-found; the setters throw NotFoundError', async () => {
      const store = (await harness()).open();
      expect(await store.decide('AAAAAAAAAAAAAAAAAAAA', { by: 'alice', decision: 'block', at: at(1) })).toEqual({ outcome: 'not-found' });
      expect(await store.decide('not/an/id', { by: 'alice', decision: 'block', at: at(1) })).toEqual({ outcome: 'not-found' });
      await expect(store.attachMessage('AAAAAAAAAAAAAAAAAAAA', '1', '2')).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.markFailed('AAAAAAAAAAAAAAAAAAAA', 'x')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('appendAudit adds entries in order and rejects an invalid one', async () => {
      const store = (await harness()).open();
      const { approvalId } = await store.create(pendingRecord());
      await store.appendAudit(approvalId, { at: at(1).toISOString(), who: 'sentinel', what: 'posted', detail: 'message 1' });
      const after = await store.appendAudit(approvalId, { at: at(2).toISOString(), who: 'alice', what: 'viewed' });
      expect(after.audit.map((e) => e.what)).toEqual(['requested', 'posted', 'viewed']);
      await expect(store.appendAudit(approvalId, { at: 'yesterday', who: 'x', what: 'y' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses a change that would store an invalid record, and keeps the record readable', async () => {
      const store = (await harness()).open();
      const { approvalId } = await store.create(pendingRecord());
      await expect(store.attachMessage(approvalId, 'c'.repeat(40), '1')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.decide(approvalId, { by: '', decision: 'allow', at: at(1) })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.decide(approvalId, { by: 'alice', decision: 'maybe' as 'allow', at: at(1) })).rejects.toBeInstanceOf(ValidationError);
      expect(await store.get(approvalId)).toMatchObject({ revision: 1, status: 'pending' });
    });

    it('listPending lists only pending approvals, oldest first', async () => {
      const store = (await harness()).open();
      const a = await store.create({ ...pendingRecord(), createdAt: at(2).toISOString() });
      const b = await store.create({ ...pendingRecord(), createdAt: at(1).toISOString() });
      const c = await store.create(pendingRecord());
      await store.decide(c.approvalId, { by: 'alice', decision: 'allow', at: at(3) });
      expect((await store.listPending()).map((r) => r.approvalId)).toEqual([b.approvalId, a.approvalId]);
    });

    it('listUndelivered lists decided approvals until markDelivered, which records when and only once', async () => {
      const h = await harness();
      const store = h.open({ now: () => at(9) });
      const pending = await store.create(pendingRecord());
      const older = await store.create({ ...pendingRecord(), createdAt: at(1).toISOString() });
      const newer = await store.create({ ...pendingRecord(), createdAt: at(2).toISOString() });
      const failed = await store.create(pendingRecord());
      for (const r of [older, newer, failed]) await store.decide(r.approvalId, { by: 'alice', decision: 'block', at: at(3) });
      await store.markFailed(failed.approvalId, 'SendTaskSuccess: TaskTimedOut');
      expect((await h.open().listUndelivered()).map((r) => r.approvalId)).toEqual([older.approvalId, newer.approvalId]);

      const delivered = await store.markDelivered(older.approvalId);
      expect(delivered).toMatchObject({ status: 'decided', delivered: { at: at(9).toISOString() } });
      expect(delivered.audit.filter((e) => e.what === 'delivered')).toHaveLength(1);
      const again = await h.open({ now: () => at(10) }).markDelivered(older.approvalId);
      expect(again.delivered).toEqual({ at: at(9).toISOString() });
      expect(again.revision).toBe(delivered.revision);
      // Not decided: nothing to deliver, nothing changes.
      expect((await store.markDelivered(pending.approvalId)).delivered).toBeUndefined();
      expect((await h.open().listUndelivered()).map((r) => r.approvalId)).toEqual([newer.approvalId]);
      // Closed as failed by a replica that judged it late, then accepted after all: the acceptance wins.
      const revived = await store.markDelivered(failed.approvalId);
      expect(revived).toMatchObject({ status: 'decided', delivered: { at: at(9).toISOString() }, decision: { by: ['alice'] } });
      expect(revived.failure).toBeUndefined();
      expect(revived.audit.at(-1)?.detail).toContain('had been closed as failed: SendTaskSuccess: TaskTimedOut');
      await expect(store.markDelivered('AAAAAAAAAAAAAAAAAAAA')).rejects.toBeInstanceOf(NotFoundError);
      // A delivered decision cannot be closed as failed afterwards (a replica that judged it late).
      const late = await store.markFailed(older.approvalId, 'SendTaskSuccess: InvalidToken');
      expect(late).toMatchObject({ status: 'decided', delivered: { at: at(9).toISOString() } });
      expect(late.failure).toBeUndefined();
      expect(late.revision).toBe(delivered.revision);
    });
  });

  describe('listForIncident', () => {
    it('lists every approval of one incident, whatever its status, and none of another', async () => {
      const h = await harness();
      const store = h.open({ now: () => at(9) });
      const pending = await store.create(pendingRecord());
      const decided = await store.create({ ...pendingRecord(), createdAt: at(-1).toISOString() });
      await store.decide(decided.approvalId, { by: 'alice', decision: 'allow', at: at(3) });
      await store.create({ ...pendingRecord(), incidentId: 'inc-another0123456789ab' });
      const listed = await h.open().listForIncident('inc-0123456789abcdef0123');
      expect(listed.map((r) => r.approvalId)).toEqual([decided.approvalId, pending.approvalId]);
      expect(listed.map((r) => r.status)).toEqual(['decided', 'pending']);
      expect(await store.listForIncident('inc-nothing')).toEqual([]);
    });
  });

  describe('corrupt state', () => {
    it('a corrupt record is an error naming where it is; listPending skips it and says where', async () => {
      const h = await harness();
      const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
      const store = h.open({ logger: { warn: (message, meta) => warnings.push({ message, ...(meta ? { meta } : {}) }) } });
      const bad = await store.create(pendingRecord());
      const good = await store.create(pendingRecord());

      const notJson = await h.corrupt(bad.approvalId, '{"approvalId": "trunc');
      const err = await store.get(bad.approvalId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SentinelError);
      expect(err).toMatchObject({ code: 'CorruptState', details: { location: notJson } });
      expect((err as Error).message).toContain(notJson);
      await expect(store.decide(bad.approvalId, { by: 'a', decision: 'allow', at: at(1) })).rejects.toMatchObject({ code: 'CorruptState' });

      const wrongShape = await h.corrupt(bad.approvalId, JSON.stringify({ ...bad, status: 'maybe' }));
      const shapeErr = (await store.get(bad.approvalId).catch((e: unknown) => e)) as Error;
      expect(shapeErr.message).toContain(wrongShape);
      expect(shapeErr.message).toMatch(/status/);
      expect(shapeErr.message).not.toContain(TOKEN);

      expect((await store.listPending()).map((r) => r.approvalId)).toEqual([good.approvalId]);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toContain(bad.approvalId);
    });
  });
}
