import { describe, expect, it } from 'vitest';
import { planNaclRoom, severityRank, type EvictionCandidate, type RoomInput } from '../../../src/pipeline/planning/planNaclRoom.js';

const NOW = new Date('2026-09-01T12:00:00Z');
const base: RoomInput = { used: 5, maxRules: 20, headroom: 2, automatic: true, severity: 'high', candidates: [], now: NOW, naclId: 'acl-0abc', family: 'IPv4' };

function block(n: number, extra: Partial<EvictionCandidate> = {}): EvictionCandidate {
  return { key: `blocks/198.51.100.${n}/acl-0abc/${n}.json`, ip: `198.51.100.${n}`, ruleNumber: n, severity: 'high', createdAt: `2026-09-01T0${n % 10}:00:00Z`, expiresAt: '2026-09-02T00:00:00Z', ...extra };
}

describe('planNaclRoom', () => {
  it('adds the rule while there is room', () => {
    expect(planNaclRoom(base)).toEqual({ kind: 'room' });
    expect(planNaclRoom({ ...base, used: 17 })).toEqual({ kind: 'room' });
  });

  it('stops automatic blocks SENTINEL_NACL_HEADROOM rules short of the quota and asks a person, naming both settings', () => {
    const plan = planNaclRoom({ ...base, used: 18 });
    expect(plan.kind).toBe('needs-approval');
    expect(plan.kind === 'needs-approval' && plan.reason).toMatch(/acl-0abc holds 18 IPv4 egress rules of its quota of 20 \(SENTINEL_NACL_MAX_RULES\); automatic blocks stop 2 rules short of it \(SENTINEL_NACL_HEADROOM\)/);
  });

  it("lets a person's block fill the ACL to the quota, and calls it full after that", () => {
    expect(planNaclRoom({ ...base, used: 19, automatic: false })).toEqual({ kind: 'room' });
    const full = planNaclRoom({ ...base, used: 20, automatic: false });
    expect(full.kind).toBe('full');
  });

  it("evicts sentinel's block that expired first, before any lower-severity one", () => {
    const candidates = [block(1, { severity: 'low' }), block(2, { expiresAt: '2026-09-01T11:00:00Z' }), block(3, { expiresAt: '2026-09-01T10:00:00Z' })];
    const plan = planNaclRoom({ ...base, used: 20, candidates });
    expect(plan).toMatchObject({ kind: 'evict', victim: { ruleNumber: 3 }, why: 'it expired at 2026-09-01T10:00:00Z' });
  });

  it('else evicts the lowest-severity block below the new one, the oldest first', () => {
    const candidates = [block(1, { severity: 'medium' }), block(5, { severity: 'low', createdAt: '2026-09-01T05:00:00Z' }), block(4, { severity: 'low', createdAt: '2026-09-01T04:00:00Z' }), block(3, { severity: 'critical' })];
    expect(planNaclRoom({ ...base, used: 20, candidates })).toMatchObject({ kind: 'evict', victim: { ruleNumber: 4 } });
  });

  it('never evicts a block of the same or a higher severity: an automatic block asks instead', () => {
    const candidates = [block(1, { severity: 'high' }), block(2, { severity: 'critical' })];
    expect(planNaclRoom({ ...base, used: 20, candidates }).kind).toBe('needs-approval');
    expect(planNaclRoom({ ...base, used: 20, candidates, automatic: false }).kind).toBe('full');
  });

  it('does not evict when the ACL is already over the quota (one for one would not make room)', () => {
    expect(planNaclRoom({ ...base, used: 21, candidates: [block(1, { expiresAt: '2026-09-01T00:00:00Z' })] }).kind).toBe('needs-approval');
  });

  it('counts an unknown severity as medium', () => {
    expect(severityRank(null)).toBe(severityRank('medium'));
    expect(planNaclRoom({ ...base, used: 20, severity: 'medium', candidates: [block(1, { severity: null })] }).kind).toBe('needs-approval');
    expect(planNaclRoom({ ...base, used: 20, severity: null, candidates: [block(1, { severity: 'low' })] })).toMatchObject({ kind: 'evict' });
  });
});
