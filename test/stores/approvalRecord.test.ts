import { describe, expect, it } from 'vitest';
import {
  APPROVAL_ID_PATTERN,
  approvalRecordSchema,
  decideTransition,
  newApprovalId,
  newApprovalRecord,
  summarizeApproval,
} from '../../src/stores/approvalStore.js';
import { KeyedMutex } from '../../src/stores/keyedMutex.js';

const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAe1X-secret-task-token';
const T0 = new Date('2026-03-01T10:00:00.000Z');

function record(requiredApprovals: 1 | 2 = 2) {
  return approvalRecordSchema.parse(
    newApprovalRecord({
      taskToken: TOKEN,
      incidentId: 'inc-1',
      proposedAction: { action: 'deny-egress', input: { cidr: '203.0.113.7/32' }, summary: 'Block 203.0.113.7' },
      requiredApprovals,
      now: T0,
      timeoutMs: 600_000,
    }),
  );
}

describe('approval records', () => {
  it('new ids are random, URL-safe and 16 to 24 characters', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newApprovalId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(APPROVAL_ID_PATTERN);
  });

  it('a new record is pending with its deadline, and its first audit entry says who asked', () => {
    const r = record();
    expect(r).toMatchObject({ status: 'pending', approvals: [], createdAt: T0.toISOString(), deadline: '2026-03-01T10:10:00.000Z' });
    expect(r.audit).toEqual([{ at: T0.toISOString(), who: 'sentinel', what: 'requested', detail: 'approval of deny-egress' }]);
  });

  it('the summary leaves the task token out, in any serialisation', () => {
    const r = record();
    const summary = summarizeApproval(r);
    expect(summary).not.toHaveProperty('taskToken');
    expect(JSON.stringify(summary)).not.toContain(TOKEN);
    const { taskToken: _secret, ...rest } = r;
    expect(summary).toEqual(rest);
  });

  it('decideTransition does not change the record it was given', () => {
    const r = record();
    const before = structuredClone(r);
    const { next } = decideTransition(r, { by: 'alice', decision: 'block', at: new Date(T0.getTime() + 1000) }, 'd-1');
    expect(next?.approvals).toHaveLength(1);
    expect(r).toEqual(before);
  });
});

describe('KeyedMutex', () => {
  it('runs calls for one key one at a time, in call order, and other keys alongside', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const step = (key: string, name: string, ms: number) =>
      mutex.run(key, async () => {
        log.push(`${name}:start`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}:end`);
        return name;
      });
    const results = await Promise.all([step('a', 'a1', 20), step('a', 'a2', 1), step('b', 'b1', 5)]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a1:end')).toBeLessThan(log.indexOf('a2:start'));
    expect(log.indexOf('b1:start')).toBeLessThan(log.indexOf('a1:end'));
    expect(mutex.size).toBe(0);
  });

  it('releases the key when a call fails', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await mutex.run('k', () => Promise.resolve('next'))).toBe('next');
  });
});
