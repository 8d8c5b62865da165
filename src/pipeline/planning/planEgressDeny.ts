/**
 * deny-egress's planning, without AWS: what is denied (address, CIDR, ports), whether the
 * destination may be blocked, when the block expires, which of sentinel's blocks in the network ACL
 * may make room, and at each attempt the one next step (skip, ask a person, refuse, evict, create a
 * rule at a number). planNaclRule.ts places the rule, planNaclRoom.ts decides on room; this file
 * joins them for the action (actions/denyEgress.ts), which reads and writes EC2 and the block
 * registry.
 */
import type { NetworkAcl, Vpc } from '@aws-sdk/client-ec2';
import { ProtectedTargetError, ValidationError } from '../../errors.js';
import type { BlockRecord, StoredBlock } from '../blocks/blockRegistry.js';
import { egressEntryAt, entryMatches, portLabel } from '../blocks/naclEntries.js';
import type { AwsIpRanges } from '../net/awsIpRanges.js';
import { hostCidr } from '../net/ipAddress.js';
import type { Severity } from '../triage/types.js';
import { planNaclRoom, type EvictionCandidate, type RoomInput } from './planNaclRoom.js';
import { familyEntries, planNaclRule, type NaclDenyTarget, type NaclEntry } from './planNaclRule.js';
import { checkProtectedDestination } from './protectedDestination.js';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** A Kubernetes node's `spec.providerID` on EKS: `aws:///<zone>/<instance id>`. */
const PROVIDER_ID = /^aws:\/\/\/[a-z0-9-]*\/(i-[0-9a-f]{8,17})$/;

/** A node or instance reference: an instance id (given, or in a provider id), else a private DNS name. */
export function parseInstanceRef(ref: string): { instanceId: string } | { privateDnsName: string } {
  const id = INSTANCE_ID.test(ref) ? ref : PROVIDER_ID.exec(ref)?.[1];
  return id ? { instanceId: id } : { privateDnsName: ref };
}

/** Every CIDR the VPC holds or is acquiring (IPv4 associations and IPv6 blocks). */
export function vpcCidrsOf(vpc: Vpc): string[] {
  const gone = (state: string | undefined) => state === 'disassociated' || state === 'failed';
  const cidrs = [
    vpc.CidrBlock,
    ...(vpc.CidrBlockAssociationSet ?? []).filter((a) => !gone(a.CidrBlockState?.State)).map((a) => a.CidrBlock),
    ...(vpc.Ipv6CidrBlockAssociationSet ?? []).filter((a) => !gone(a.Ipv6CidrBlockState?.State)).map((a) => a.Ipv6CidrBlock),
  ];
  return [...new Set(cidrs.filter((c): c is string => typeof c === 'string' && c.length > 0))];
}

/** Refuses a protected destination (built-in ranges, the allowlist, AWS's ranges, the VPC's own CIDRs when given). */
export function refuseProtectedEgress(ip: string, opts: { allowlist: readonly string[]; awsRanges: AwsIpRanges; vpcCidrs?: readonly string[] }): void {
  const check = checkProtectedDestination(ip, { allowlist: opts.allowlist, awsRanges: opts.awsRanges, ...(opts.vpcCidrs ? { vpcCidrs: opts.vpcCidrs } : {}) });
  if (check.protected) {
    throw new ProtectedTargetError(`refusing to deny egress to ${ip}: ${check.reason ?? 'protected destination'}`, { details: { ip } });
  }
}

/** The block's expiry: the input's (which must be in the future), else now + the TTL. */
export function blockExpiry(expiresAt: string | undefined, now: Date, ttlHours: number): string {
  if (expiresAt && Date.parse(expiresAt) <= now.getTime()) throw new ValidationError(`expiresAt ${expiresAt} is not in the future`);
  return new Date(expiresAt ? Date.parse(expiresAt) : now.getTime() + ttlHours * 3_600_000).toISOString();
}

export interface DenyTarget {
  ip: string;
  /** The host CIDR (/32 or /128). */
  cidr: string;
  ipv6: boolean;
  /** One TCP port, or null for all. */
  port: number | null;
  portRange: { from: number; to: number };
  /** For messages: `<ip> tcp/<port>` or `<ip> all TCP ports`. */
  what: string;
  rule: NaclDenyTarget;
}

export function denyTarget(ip: string, port: number | undefined): DenyTarget {
  const host = hostCidr(ip);
  const ipv6 = host.family === 'ipv6';
  return {
    ip,
    cidr: host.text,
    ipv6,
    port: port ?? null,
    portRange: { from: port ?? 0, to: port ?? 65535 },
    what: `${ip} ${portLabel(port ?? null)}`,
    rule: { cidr: host.text, ipv6, ...(port !== undefined ? { port } : {}) },
  };
}

/** The record a created rule is kept under (blocks/<ip>/<naclId>/<ruleNumber>). */
export function naclBlockRecord(
  t: DenyTarget,
  at: { naclId: string; vpcId: string; ruleNumber: number },
  who: { actor: string; reason: string | null; incidentId: string; createdAt: string; expiresAt: string; severity: Severity | null },
): BlockRecord {
  return {
    version: 1,
    kind: 'nacl-egress-deny',
    ip: t.ip,
    cidr: t.cidr,
    ipv6: t.ipv6,
    port: t.port,
    protocol: '6',
    portRange: t.portRange,
    naclId: at.naclId,
    ruleNumber: at.ruleNumber,
    vpcId: at.vpcId,
    actor: who.actor,
    reason: who.reason,
    incidentId: who.incidentId,
    createdAt: who.createdAt,
    expiresAt: who.expiresAt,
    severity: who.severity,
  };
}

/** The subnets a network ACL applies to. */
export function naclSubnetIds(nacl: NetworkAcl): string[] {
  return (nacl.Associations ?? []).map((a) => a.SubnetId).filter((s): s is string => Boolean(s));
}

/**
 * sentinel's recorded blocks in this ACL and address family whose rules are still exactly its
 * deny: all that eviction may take. The customer's rules have no record; a recorded rule someone
 * changed is no longer sentinel's.
 */
export function sentinelBlocksIn(blocks: readonly StoredBlock[], nacl: NetworkAcl, naclId: string, ipv6: boolean): { candidates: EvictionCandidate[]; byKey: Map<string, StoredBlock> } {
  const byKey = new Map<string, StoredBlock>();
  const candidates: EvictionCandidate[] = [];
  for (const block of blocks) {
    const r = block.record;
    if (r.naclId !== naclId || r.ipv6 !== ipv6) continue;
    const entry = egressEntryAt(nacl, r.ruleNumber);
    if (!entry || !entryMatches(entry, { ruleNumber: r.ruleNumber, cidr: r.cidr, ipv6: r.ipv6, portRange: r.portRange })) continue;
    byKey.set(block.key, block);
    candidates.push({ key: block.key, ip: r.ip, ruleNumber: r.ruleNumber, severity: r.severity, createdAt: r.createdAt, expiresAt: r.expiresAt });
  }
  return { candidates, byKey };
}

export type DenyStep =
  /** A deny that already wins: nothing to do. */
  | { kind: 'exists'; ruleNumber: number; reason: string }
  /** No room: list sentinel's blocks in the ACL and plan again with them. */
  | { kind: 'look-for-eviction' }
  | { kind: 'needs-approval'; reason: string; used: number }
  | { kind: 'full'; reason: string }
  /** Lift this block of sentinel's first, then plan again. */
  | { kind: 'evict'; victim: EvictionCandidate; why: string }
  | { kind: 'create'; ruleNumber: number; firstAllow: number | null };

export type RoomSettings = Pick<RoomInput, 'maxRules' | 'headroom' | 'automatic' | 'severity' | 'now' | 'naclId'>;

/**
 * The next step for one attempt on the ACL's current entries. `candidates`: sentinel's blocks that
 * may be evicted, or undefined when not looked up yet (then a lack of room asks to look them up).
 */
export function planDenyStep(entries: readonly NaclEntry[], t: DenyTarget, room: RoomSettings, candidates: readonly EvictionCandidate[] | undefined): DenyStep {
  const plan = planNaclRule(entries, t.rule);
  if (plan.kind === 'exists') return { kind: 'exists', ruleNumber: plan.ruleNumber, reason: plan.reason };
  const input: RoomInput = { ...room, used: familyEntries(entries, t.ipv6).length, family: t.ipv6 ? 'IPv6' : 'IPv4', candidates: candidates ?? [] };
  const decided = planNaclRoom(input);
  if (decided.kind === 'room') return { kind: 'create', ruleNumber: plan.ruleNumber, firstAllow: plan.firstAllow };
  if (candidates === undefined) return { kind: 'look-for-eviction' };
  if (decided.kind === 'needs-approval') return { kind: 'needs-approval', reason: decided.reason, used: input.used };
  return decided;
}

/** Where the rule would go once the victim's rule is out (a dry run's plan of an eviction). */
export function placementAfterEviction(entries: readonly NaclEntry[], t: DenyTarget, victimRuleNumber: number): { ruleNumber: number; firstAllow: number | null } {
  const after = planNaclRule(entries.filter((e) => !(e.egress && e.ruleNumber === victimRuleNumber)), t.rule);
  return after.kind === 'create' ? { ruleNumber: after.ruleNumber, firstAllow: after.firstAllow } : { ruleNumber: victimRuleNumber, firstAllow: null };
}

/** How a rule sits relative to the allow rules, for messages. */
export function placementText(firstAllow: number | null): string {
  return firstAllow === null ? 'no egress allow rule to precede' : `before allow rule ${firstAllow}`;
}
