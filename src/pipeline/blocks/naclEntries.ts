import { DescribeNetworkAclsCommand, type EC2Client, type NetworkAcl, type NetworkAclEntry } from '@aws-sdk/client-ec2';
import { AwsError, describeError, NotFoundError, ValidationError } from '../../errors.js';
import { normalizeCidr } from '../net/ipAddress.js';
import type { NaclEntry } from '../planning/planNaclRule.js';

/**
 * Network ACL entries as deny-egress, unblock-egress, the eviction of old blocks and the expiry
 * sweeper read them: EC2 calls with clear errors, entries in planning's shape (canonical CIDRs,
 * protocol numbers), and whether an entry is still exactly the deny sentinel created.
 */

/** The AWS error code of a thrown SDK error (`NetworkAclEntryAlreadyExists`, …). */
export function awsErrorCode(err: unknown): string | undefined {
  const e = err as { name?: unknown; Code?: unknown } | undefined;
  if (typeof e?.Code === 'string') return e.Code;
  return typeof e?.name === 'string' ? e.name : undefined;
}

/** Runs an EC2 call; `*.NotFound` becomes NotFoundError, `*.Malformed` ValidationError, anything else AwsError. */
export async function ec2Call<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = awsErrorCode(err) ?? '';
    if (code.endsWith('.NotFound')) throw new NotFoundError(`${what}: not found (${code})`, { cause: err, details: { awsCode: code } });
    if (code.endsWith('.Malformed')) throw new ValidationError(`${what}: malformed id (${code})`, { cause: err, details: { awsCode: code } });
    throw new AwsError(`${what} failed: ${describeError(err)}`, { cause: err, details: { awsCode: code } });
  }
}

export async function readNacl(ec2: EC2Client, naclId: string): Promise<NetworkAcl> {
  const out = await ec2Call(`network ACL ${naclId}`, () => ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [naclId] })));
  const nacl = out.NetworkAcls?.find((n) => n.NetworkAclId === naclId);
  if (!nacl) throw new NotFoundError(`network ACL ${naclId}: not found`);
  return nacl;
}

/** EC2 reports protocols by number, but accepts (and some emulators echo) names. */
export function normalizeProtocol(protocol: string | undefined): string {
  const p = (protocol ?? '').toLowerCase();
  return ({ tcp: '6', udp: '17', icmp: '1', icmpv6: '58', all: '-1' } as Record<string, string>)[p] ?? p;
}

/** EC2's entries in the shape planning uses (CIDRs canonical, protocols as numbers). */
export function toNaclEntries(entries: readonly NetworkAclEntry[]): NaclEntry[] {
  const out: NaclEntry[] = [];
  for (const e of entries) {
    if (e.RuleNumber === undefined) continue;
    out.push({
      ruleNumber: e.RuleNumber,
      egress: e.Egress === true,
      action: e.RuleAction === 'deny' ? 'deny' : 'allow',
      protocol: normalizeProtocol(e.Protocol),
      ...(e.CidrBlock ? { cidr: normalizeCidr(e.CidrBlock) } : {}),
      ...(e.Ipv6CidrBlock ? { ipv6Cidr: normalizeCidr(e.Ipv6CidrBlock) } : {}),
      ...(e.PortRange?.From !== undefined && e.PortRange.To !== undefined ? { portRange: { from: e.PortRange.From, to: e.PortRange.To } } : {}),
    });
  }
  return out;
}

/** The entry sentinel creates for a block, as it must still look to be sentinel's. */
export interface ExpectedEntry {
  ruleNumber: number;
  cidr: string;
  ipv6: boolean;
  portRange: { from: number; to: number };
}

/** Whether an entry is exactly the egress TCP deny sentinel created (same number, CIDR, ports). */
export function entryMatches(entry: NetworkAclEntry, expected: ExpectedEntry): boolean {
  const [e] = toNaclEntries([entry]);
  if (!e) return false;
  const cidr = expected.ipv6 ? e.ipv6Cidr : e.cidr;
  const other = expected.ipv6 ? e.cidr : e.ipv6Cidr;
  return (
    e.egress &&
    e.ruleNumber === expected.ruleNumber &&
    e.action === 'deny' &&
    e.protocol === '6' &&
    cidr === normalizeCidr(expected.cidr) &&
    other === undefined &&
    e.portRange?.from === expected.portRange.from &&
    e.portRange?.to === expected.portRange.to
  );
}

/** A short description of an entry for reports: `deny tcp 203.0.113.7/32 ports 0-65535`. */
export function describeEntry(entry: NetworkAclEntry): string {
  const [e] = toNaclEntries([entry]);
  if (!e) return 'an entry without a rule number';
  const proto = e.protocol === '6' ? 'tcp' : e.protocol === '17' ? 'udp' : e.protocol === '-1' ? 'all protocols' : `protocol ${e.protocol}`;
  const ports = e.portRange ? ` ports ${e.portRange.from}-${e.portRange.to}` : '';
  return `${e.action} ${proto} ${e.cidr ?? e.ipv6Cidr ?? '?'}${ports}`;
}

export function egressEntryAt(nacl: NetworkAcl, ruleNumber: number): NetworkAclEntry | undefined {
  return (nacl.Entries ?? []).find((e) => e.Egress === true && e.RuleNumber === ruleNumber);
}

export const portLabel = (port: number | null | undefined) => (port == null ? 'all TCP ports' : `tcp/${port}`);
