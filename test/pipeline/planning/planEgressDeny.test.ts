/**
 * deny-egress's planning without AWS: the target, node references, the VPC's CIDRs, protected
 * destinations, the expiry, the record, which blocks are sentinel's to evict, and the next step of
 * an attempt (skip, look for a block to evict, ask a person, refuse, evict, create).
 */
import type { NetworkAcl } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { blockRecordSchema, type StoredBlock } from '../../../src/pipeline/blocks/blockRegistry.js';
import { bundledAwsIpRanges } from '../../../src/pipeline/net/awsIpRanges.js';
import {
  blockExpiry,
  denyTarget,
  naclBlockRecord,
  naclSubnetIds,
  parseInstanceRef,
  placementAfterEviction,
  planDenyStep,
  refuseProtectedEgress,
  sentinelBlocksIn,
  vpcCidrsOf,
  type RoomSettings,
} from '../../../src/pipeline/planning/planEgressDeny.js';
import type { NaclEntry } from '../../../src/pipeline/planning/planNaclRule.js';

const NOW = new Date('2026-09-01T12:00:00Z');
const NACL = 'acl-0abc';
const room: RoomSettings = { maxRules: 20, headroom: 2, automatic: true, severity: 'high', now: NOW, naclId: NACL };
const allowAll = (n: number): NaclEntry => ({ ruleNumber: n, egress: true, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' });
const deny = (n: number, cidr: string): NaclEntry => ({ ruleNumber: n, egress: true, action: 'deny', protocol: '6', cidr, portRange: { from: 0, to: 65535 } });

describe('the target', () => {
  it('is the host CIDR of the address, one TCP port or all', () => {
    expect(denyTarget('203.0.113.45', 4444)).toEqual({
      ip: '203.0.113.45',
      cidr: '203.0.113.45/32',
      ipv6: false,
      port: 4444,
      portRange: { from: 4444, to: 4444 },
      what: '203.0.113.45 tcp/4444',
      rule: { cidr: '203.0.113.45/32', ipv6: false, port: 4444 },
    });
    expect(denyTarget('2001:db8::7', undefined)).toMatchObject({ cidr: '2001:db8::7/128', ipv6: true, port: null, portRange: { from: 0, to: 65535 }, what: '2001:db8::7 all TCP ports' });
  });

  it('reads an instance id from a node reference, else takes it as a private DNS name', () => {
    expect(parseInstanceRef('i-0123456789abcdef0')).toEqual({ instanceId: 'i-0123456789abcdef0' });
    expect(parseInstanceRef('aws:///eu-west-1a/i-0123456789abcdef0')).toEqual({ instanceId: 'i-0123456789abcdef0' });
    expect(parseInstanceRef('ip-10-0-1-5.eu-west-1.compute.internal')).toEqual({ privateDnsName: 'ip-10-0-1-5.eu-west-1.compute.internal' });
  });
});

describe('protections', () => {
  it("lists the VPC's live CIDRs once each", () => {
    expect(
      vpcCidrsOf({
        CidrBlock: '10.0.0.0/16',
        CidrBlockAssociationSet: [{ CidrBlock: '10.0.0.0/16', CidrBlockState: { State: 'associated' } }, { CidrBlock: '10.9.0.0/16', CidrBlockState: { State: 'disassociated' } }, { CidrBlock: '100.64.0.0/16', CidrBlockState: { State: 'associating' } }],
        Ipv6CidrBlockAssociationSet: [{ Ipv6CidrBlock: '2001:db8:1::/56', Ipv6CidrBlockState: { State: 'associated' } }],
      }),
    ).toEqual(['10.0.0.0/16', '100.64.0.0/16', '2001:db8:1::/56']);
  });

  it('refuses private, allowlisted and VPC destinations, and lets a public one through', () => {
    const awsRanges = bundledAwsIpRanges(['EC2']);
    expect(() => refuseProtectedEgress('10.1.2.3', { allowlist: [], awsRanges })).toThrow(/^refusing to deny egress to 10\.1\.2\.3: /);
    expect(() => refuseProtectedEgress('198.51.100.7', { allowlist: ['198.51.100.0/24'], awsRanges })).toThrow(/refusing to deny egress to 198\.51\.100\.7/);
    expect(() => refuseProtectedEgress('::ffff:10.1.2.3', { allowlist: [], awsRanges })).toThrow(/refusing/);
    expect(() => refuseProtectedEgress('203.0.113.45', { allowlist: [], awsRanges })).not.toThrow();
  });

  it('expires at the input time when it is in the future, else after the TTL', () => {
    expect(blockExpiry(undefined, NOW, 24)).toBe('2026-09-02T12:00:00.000Z');
    expect(blockExpiry('2026-09-01T14:30:00+01:00', NOW, 24)).toBe('2026-09-01T13:30:00.000Z');
    expect(() => blockExpiry('2026-09-01T13:00:00+01:00', NOW, 24)).toThrow('expiresAt 2026-09-01T13:00:00+01:00 is not in the future');
  });
});

describe('the record', () => {
  it('is a valid block record of the rule, who asked and until when', () => {
    const record = naclBlockRecord(denyTarget('203.0.113.45', 4444), { naclId: NACL, vpcId: 'vpc-0a', ruleNumber: 90 }, { actor: 'discord:1', reason: null, incidentId: 'inc-1', createdAt: NOW.toISOString(), expiresAt: '2026-09-02T12:00:00.000Z', severity: 'high' });
    expect(blockRecordSchema.safeParse(record).success).toBe(true);
    expect(record).toMatchObject({ kind: 'nacl-egress-deny', cidr: '203.0.113.45/32', protocol: '6', portRange: { from: 4444, to: 4444 }, naclId: NACL, ruleNumber: 90 });
    expect(naclSubnetIds({ Associations: [{ SubnetId: 'subnet-1' }, {}, { SubnetId: 'subnet-2' }] })).toEqual(['subnet-1', 'subnet-2']);
  });
});

describe("sentinel's blocks in the ACL", () => {
  const stored = (ip: string, ruleNumber: number, naclId = NACL): StoredBlock =>
    ({
      key: `blocks/${ip}/${naclId}/${ruleNumber}.json`,
      record: naclBlockRecord(denyTarget(ip, undefined), { naclId, vpcId: 'vpc-0a', ruleNumber }, { actor: 'stepfunctions:x', reason: null, incidentId: 'inc', createdAt: NOW.toISOString(), expiresAt: '2026-09-02T00:00:00.000Z', severity: 'low' }),
    }) as StoredBlock;
  it('are the recorded ones whose rule is still exactly their deny, in this ACL and family', () => {
    const nacl: NetworkAcl = {
      Entries: [
        { RuleNumber: 10, Egress: true, RuleAction: 'deny', Protocol: '6', CidrBlock: '198.51.100.1/32', PortRange: { From: 0, To: 65535 } },
        // Changed by hand since: no longer sentinel's.
        { RuleNumber: 11, Egress: true, RuleAction: 'deny', Protocol: '6', CidrBlock: '198.51.100.99/32', PortRange: { From: 0, To: 65535 } },
      ],
    };
    const { candidates, byKey } = sentinelBlocksIn([stored('198.51.100.1', 10), stored('198.51.100.2', 11), stored('198.51.100.3', 12), stored('198.51.100.4', 10, 'acl-0other')], nacl, NACL, false);
    expect(candidates.map((c) => [c.ip, c.ruleNumber])).toEqual([['198.51.100.1', 10]]);
    expect([...byKey.keys()]).toEqual(['blocks/198.51.100.1/acl-0abc/10.json']);
    expect(sentinelBlocksIn([stored('198.51.100.1', 10)], nacl, NACL, true).candidates).toEqual([]);
  });
});

describe('the next step of an attempt', () => {
  const t = denyTarget('203.0.113.45', undefined);
  const many = (n: number) => Array.from({ length: n }, (_, i) => deny(10 + i, `198.51.100.${i + 1}/32`));

  it('skips a deny that already wins, and creates one before the first allow while there is room', () => {
    expect(planDenyStep([deny(5, '203.0.113.45/32'), allowAll(100)], t, room, undefined)).toMatchObject({ kind: 'exists', ruleNumber: 5 });
    expect(planDenyStep([allowAll(100)], t, room, undefined)).toEqual({ kind: 'create', ruleNumber: 1, firstAllow: 100 });
  });

  it('without room, first asks for the blocks it may evict, then evicts, asks a person or calls it full', () => {
    const entries = [...many(17), allowAll(100)];
    expect(planDenyStep(entries, t, room, undefined)).toEqual({ kind: 'look-for-eviction' });
    const victim = { key: 'blocks/198.51.100.1/acl-0abc/10.json', ip: '198.51.100.1', ruleNumber: 10, severity: 'low' as const, createdAt: '2026-09-01T00:00:00Z', expiresAt: '2026-09-02T00:00:00Z' };
    expect(planDenyStep(entries, t, room, [victim])).toMatchObject({ kind: 'evict', victim: { ruleNumber: 10 } });
    expect(planDenyStep(entries, t, room, [])).toMatchObject({ kind: 'needs-approval', used: 18 });
    expect(planDenyStep([...many(19), allowAll(100)], t, { ...room, automatic: false }, [])).toMatchObject({ kind: 'full' });
    // Where a dry run says the rule would go once the victim is out.
    expect(placementAfterEviction(entries, t, 10)).toEqual({ ruleNumber: 1, firstAllow: 100 });
  });
});
