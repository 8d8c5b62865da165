import { SEVERITIES, type Severity } from '../triage/types.js';

/** One of sentinel's own recorded blocks in the network ACL: the only rules it may ever evict. */
export interface EvictionCandidate {
  key: string;
  ip: string;
  ruleNumber: number;
  severity: Severity | null;
  createdAt: string;
  expiresAt: string | null;
}

export type RoomPlan =
  /** There is room: add the rule. */
  | { kind: 'room' }
  /** Lift this block of sentinel's first, then add the rule in its place. */
  | { kind: 'evict'; victim: EvictionCandidate; why: string }
  /** An automatic block near the quota with nothing to evict: a person must decide. */
  | { kind: 'needs-approval'; reason: string }
  /** Full, nothing of sentinel's may go: nothing is done. */
  | { kind: 'full'; reason: string };

export interface RoomInput {
  /** Egress rules of the target's address family the ACL holds now (planNaclRule's familyEntries). */
  used: number;
  /** SENTINEL_NACL_MAX_RULES: the quota. */
  maxRules: number;
  /** SENTINEL_NACL_HEADROOM: automatic blocks stop this many rules short of the quota. */
  headroom: number;
  /** A playbook step acting by itself, not a person's decision. */
  automatic: boolean;
  /** The new block's triage severity (null: medium). */
  severity: Severity | null;
  /** sentinel's recorded blocks in this ACL and address family whose rules are still exactly sentinel's. */
  candidates: readonly EvictionCandidate[];
  now: Date;
  naclId: string;
  family: 'IPv4' | 'IPv6';
}

/** critical 4 … info 0; unknown counts as medium. */
export function severityRank(severity: Severity | null): number {
  return SEVERITIES.length - 1 - SEVERITIES.indexOf(severity ?? 'medium');
}

const byTime = (a: string | null, b: string | null) => Date.parse(a ?? '') - Date.parse(b ?? '');

/**
 * Whether one more egress deny fits, and what to do when it does not. Pure.
 * - A person's block (or one a person approved) may fill the ACL up to the quota; an automatic
 *   one stops `headroom` rules short, so an attacker's decoys can never fill it by themselves.
 * - Without room, one of sentinel's own blocks in the same ACL and family may make room: the one
 *   that expired first, else the lowest-severity block below the new one's severity (oldest
 *   first). The customer's rules are never candidates. Eviction swaps one rule for one, so it
 *   only helps while the ACL is within the quota.
 * - With nothing to evict: an automatic block asks a person (`needs-approval`); any other is
 *   `full`.
 */
export function planNaclRoom(input: RoomInput): RoomPlan {
  const limit = input.automatic ? Math.max(0, input.maxRules - input.headroom) : input.maxRules;
  if (input.used + 1 <= limit) return { kind: 'room' };
  const now = input.now.getTime();
  if (input.used <= input.maxRules) {
    const expired = input.candidates
      .filter((c) => c.expiresAt !== null && Date.parse(c.expiresAt) <= now)
      .sort((a, b) => byTime(a.expiresAt, b.expiresAt) || byTime(a.createdAt, b.createdAt) || a.ruleNumber - b.ruleNumber);
    if (expired[0]) return { kind: 'evict', victim: expired[0], why: `it expired at ${expired[0].expiresAt}` };
    const rank = severityRank(input.severity);
    const lower = input.candidates
      .filter((c) => severityRank(c.severity) < rank)
      .sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || byTime(a.createdAt, b.createdAt) || a.ruleNumber - b.ruleNumber);
    if (lower[0]) {
      return { kind: 'evict', victim: lower[0], why: `its severity (${lower[0].severity ?? 'unknown, counted as medium'}) is the lowest, below this block's (${input.severity ?? 'medium'})` };
    }
  }
  const holds = `network ACL ${input.naclId} holds ${input.used} ${input.family} egress rules of its quota of ${input.maxRules} (SENTINEL_NACL_MAX_RULES)`;
  const nothing = "and none of sentinel's blocks there has expired or has a lower severity";
  if (input.automatic) {
    return {
      kind: 'needs-approval',
      reason: `${holds}; automatic blocks stop ${input.headroom} rule${input.headroom === 1 ? '' : 's'} short of it (SENTINEL_NACL_HEADROOM) ${nothing}: a responder must approve this block`,
    };
  }
  return { kind: 'full', reason: `the ${holds}, ${nothing}; remove a rule or raise the quota` };
}
