import { LimitExceededError } from '../../errors.js';

/** A network ACL entry as EC2 describes it (only what planning needs). */
export interface NaclEntry {
  ruleNumber: number;
  egress: boolean;
  action: 'allow' | 'deny';
  /** IANA protocol number as a string; "-1" is all. */
  protocol: string;
  cidr?: string;
  ipv6Cidr?: string;
  portRange?: { from: number; to: number };
}

export interface NaclDenyTarget {
  /** `203.0.113.45/32` or `2001:db8::7/128`. */
  cidr: string;
  ipv6: boolean;
  /** TCP port; all TCP ports when absent. */
  port?: number;
}

export type NaclPlan =
  | { kind: 'exists'; ruleNumber: number; reason: string }
  | { kind: 'create'; ruleNumber: number; firstAllow: number | null };

/** The highest rule number AWS accepts; 32767 is the default "*" rule. */
export const MAX_RULE_NUMBER = 32766;

const covers = (e: NaclEntry, t: NaclDenyTarget) => {
  if (e.protocol === '-1') return true;
  if (e.protocol !== '6') return false;
  const from = e.portRange?.from ?? 0;
  const to = e.portRange?.to ?? 65535;
  return t.port === undefined ? from <= 0 && to >= 65535 : from <= t.port && to >= t.port;
};

/** The egress entries of one address family that count against the quota (not the default `*` rule). */
export function familyEntries(entries: readonly NaclEntry[], ipv6: boolean): NaclEntry[] {
  return entries.filter((e) => e.egress && e.ruleNumber <= MAX_RULE_NUMBER && (ipv6 ? e.ipv6Cidr : e.cidr) !== undefined);
}

/**
 * Chooses where an egress deny goes. AWS evaluates the lowest rule number
 * first, so the deny must sit below every egress allow rule of its address
 * family (the earlier system numbered from 100 up, behind AWS's default
 * `100 allow all`, so its denies never matched). An existing deny for the same
 * destination that already wins means there is nothing to do. Whether the ACL has
 * room for one more rule is planNaclRoom's question.
 */
export function planNaclRule(entries: readonly NaclEntry[], target: NaclDenyTarget): NaclPlan {
  const family = familyEntries(entries, target.ipv6);
  const allows = family.filter((e) => e.action === 'allow').map((e) => e.ruleNumber);
  const firstAllow = allows.length ? Math.min(...allows) : null;
  const sameCidr = (e: NaclEntry) => (target.ipv6 ? e.ipv6Cidr : e.cidr) === target.cidr;

  const existing = family
    .filter((e) => e.action === 'deny' && sameCidr(e) && covers(e, target) && (firstAllow === null || e.ruleNumber < firstAllow))
    .sort((a, b) => a.ruleNumber - b.ruleNumber)[0];
  if (existing) {
    const identical = existing.protocol === '6' && existing.portRange?.from === (target.port ?? 0) && existing.portRange?.to === (target.port ?? 65535);
    return {
      kind: 'exists',
      ruleNumber: existing.ruleNumber,
      reason: identical ? `rule ${existing.ruleNumber} already denies this` : `rule ${existing.ruleNumber} already denies this (and more)`,
    };
  }
  const used = new Set(entries.filter((e) => e.egress).map((e) => e.ruleNumber));
  const limit = firstAllow === null ? MAX_RULE_NUMBER : firstAllow - 1;
  for (let n = 1; n <= limit; n++) if (!used.has(n)) return { kind: 'create', ruleNumber: n, firstAllow };
  throw new LimitExceededError(
    `no free rule number below the first egress allow rule (${firstAllow}); a deny placed after it would never match`,
    { code: 'NaclNoRoom' },
  );
}
