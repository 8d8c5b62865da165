/**
 * deny-egress against moto with the real AWS SDK: every test makes its own VPC (and so its own
 * network ACLs) and its own bucket, so tests never see each other's rules or records.
 */
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import {
  AssociateVpcCidrBlockCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteNetworkAclEntryCommand,
  DescribeNetworkAclsCommand,
  RunInstancesCommand,
  type CreateNetworkAclEntryCommandInput,
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { denyEgress, denyEgressAction } from '../../../../src/pipeline/actions/containment/denyEgress.js';
import { normalizeIp } from '../../../../src/pipeline/net/ipAddress.js';
import type { ActionDeps, ActionRequest } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, MOTO_REGION, uniqueName } from '../../../support/aws.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

const ACTOR = 'discord:123456789012345678';
const PUBLIC_IP = '203.0.113.45';

async function newBucket(): Promise<string> {
  const bucket = uniqueName('blocks');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return bucket;
}

function depsFor(bucket: string | undefined, settings: Partial<PipelineSettings> = {}, extra: Partial<ActionDeps> = {}): ActionDeps {
  return {
    aws,
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
    ...extra,
  };
}

function request<I>(input: I, extra: Partial<ActionRequest<I>> = {}): ActionRequest<I> {
  return { input, actor: ACTOR, incidentId: 'inc-deny-1', ...extra };
}

const invokeOptions = { actor: ACTOR, incidentId: 'inc-deny-1' };

async function naclOfSubnet(subnetId: string): Promise<string> {
  const out = await aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }));
  const id = out.NetworkAcls?.[0]?.NetworkAclId;
  if (!id) throw new Error(`no network ACL for ${subnetId}`);
  return id;
}

async function egressEntries(naclId: string): Promise<NetworkAclEntry[]> {
  const out = await aws.ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [naclId] }));
  return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress).sort((a, b) => a.RuleNumber! - b.RuleNumber!);
}

async function bucketKeys(bucket: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

async function readJson(location: string): Promise<Record<string, unknown>> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!m) throw new Error(`not an s3 location: ${location}`);
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
  return JSON.parse(await out.Body!.transformToString()) as Record<string, unknown>;
}

/** How a network ACL treats one TCP packet: the lowest-numbered egress entry that matches it. */
function decidingEgressEntry(entries: readonly NetworkAclEntry[], ip: string, port: number): NetworkAclEntry | undefined {
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  return [...entries]
    .filter((e) => e.Egress)
    .sort((a, b) => a.RuleNumber! - b.RuleNumber!)
    .find((e) => {
      const cidr = family === 'ipv6' ? e.Ipv6CidrBlock : e.CidrBlock;
      if (!cidr) return false;
      const [net, bits] = cidr.split('/');
      const list = new BlockList();
      list.addSubnet(net!, Number(bits), family);
      if (!list.check(ip, family)) return false;
      if (e.Protocol === '-1') return true;
      if (e.Protocol !== '6') return false;
      return (e.PortRange?.From ?? 0) <= port && port <= (e.PortRange?.To ?? 65535);
    });
}

async function addEgressEntry(naclId: string, entry: Omit<CreateNetworkAclEntryCommandInput, 'NetworkAclId' | 'Egress'>): Promise<void> {
  await aws.ec2.send(new CreateNetworkAclEntryCommand({ NetworkAclId: naclId, Egress: true, ...entry }));
}

async function launchInstance(subnetId: string, privateIp?: string) {
  const out = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await anyAmiId(aws.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(privateIp ? { PrivateIpAddress: privateIp } : {}),
    }),
  );
  const instance = out.Instances?.[0];
  if (!instance?.InstanceId || !instance.PrivateDnsName) throw new Error('RunInstances returned no instance');
  return { instanceId: instance.InstanceId, privateDnsName: instance.PrivateDnsName };
}

/**
 * A VPC and subnet on a random 10.x.y.0/24 with one instance at a random address in it. Private
 * DNS names come from private IPs, and every createVpcWithSubnet VPC is 10.0.0.0/16, so instances
 * of parallel tests there share names (as instances of overlapping VPCs do on AWS).
 */
async function instanceWithOwnName() {
  const [a, b, host] = [...randomBytes(3)].map((x) => (x % 250) + 4) as [number, number, number];
  const cidr = `10.${a}.${b}.0/24`;
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
  const { Subnet } = await aws.ec2.send(
    new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: cidr, AvailabilityZone: `${MOTO_REGION}a` }),
  );
  const subnetId = Subnet!.SubnetId!;
  return { subnetId, availabilityZone: `${MOTO_REGION}a`, ...(await launchInstance(subnetId, `10.${a}.${b}.${host}`)) };
}

describe('deny-egress: the rule', () => {
  it('puts an IPv4 TCP deny below the default allow-all at 100, so it wins, and records it', async () => {
    const { subnetId, vpcId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const before = await egressEntries(naclId);
    expect(decidingEgressEntry(before, PUBLIC_IP, 4444)).toMatchObject({ RuleNumber: 100, RuleAction: 'allow' });

    const result = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId }), depsFor(bucket));

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({
      naclId,
      vpcId,
      cidr: `${PUBLIC_IP}/32`,
      port: 4444,
      firstAllow: 100,
      created: true,
      subnetIds: [subnetId],
      attempts: 1,
    });
    const { ruleNumber } = result.details;
    expect(ruleNumber).toBeGreaterThanOrEqual(1);
    expect(ruleNumber).toBeLessThan(100);

    const after = await egressEntries(naclId);
    expect(after.find((e) => e.RuleNumber === ruleNumber)).toEqual({
      RuleNumber: ruleNumber,
      Egress: true,
      RuleAction: 'deny',
      Protocol: '6',
      CidrBlock: `${PUBLIC_IP}/32`,
      PortRange: { From: 4444, To: 4444 },
    });
    // The default allow-all is still there at 100 and the deny comes first.
    expect(after.find((e) => e.RuleNumber === 100)).toMatchObject({ RuleAction: 'allow', CidrBlock: '0.0.0.0/0', Protocol: '-1' });
    expect(decidingEgressEntry(after, PUBLIC_IP, 4444)).toMatchObject({ RuleNumber: ruleNumber, RuleAction: 'deny' });
    // Other ports and other addresses still pass.
    expect(decidingEgressEntry(after, PUBLIC_IP, 443)).toMatchObject({ RuleNumber: 100, RuleAction: 'allow' });
    expect(decidingEgressEntry(after, '203.0.113.46', 4444)).toMatchObject({ RuleNumber: 100, RuleAction: 'allow' });
    expect(after).toHaveLength(before.length + 1);

    expect(result.details.record).toBe(`s3://${bucket}/blocks/${PUBLIC_IP}/${naclId}/${ruleNumber}.json`);
    expect(await bucketKeys(bucket)).toEqual([`blocks/${PUBLIC_IP}/${naclId}/${ruleNumber}.json`]);
    expect(result.summary).toContain(`rule ${ruleNumber} of ${naclId} (before allow rule 100)`);
  });

  it('denies an IPv6 address as a /128 over all TCP ports, below the IPv6 allow', async () => {
    const { subnetId, vpcId } = await createVpcWithSubnet(aws.ec2, { ipv6: true });
    const naclId = await naclOfSubnet(subnetId);
    // AWS gives an IPv6 VPC's default network ACL "101 allow ::/0"; moto does not, so add it.
    await addEgressEntry(naclId, { RuleNumber: 101, Protocol: '-1', RuleAction: 'allow', Ipv6CidrBlock: '::/0' });
    const bucket = await newBucket();

    const result = await denyEgress(request({ ip: '2001:DB8:0:0:0:0:0:7', subnetId }), depsFor(bucket));

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ naclId, vpcId, ip: '2001:db8::7', cidr: '2001:db8::7/128', port: null, firstAllow: 101, created: true });
    const { ruleNumber } = result.details;
    const after = await egressEntries(naclId);
    expect(after.find((e) => e.RuleNumber === ruleNumber)).toEqual({
      RuleNumber: ruleNumber,
      Egress: true,
      RuleAction: 'deny',
      Protocol: '6',
      Ipv6CidrBlock: '2001:db8::7/128',
      PortRange: { From: 0, To: 65535 },
    });
    for (const port of [1, 443, 65535]) {
      expect(decidingEgressEntry(after, '2001:db8::7', port)).toMatchObject({ RuleNumber: ruleNumber, RuleAction: 'deny' });
    }
    expect(decidingEgressEntry(after, '2001:db8::8', 443)).toMatchObject({ RuleNumber: 101, RuleAction: 'allow' });
    expect(await bucketKeys(bucket)).toEqual([`blocks/2001:db8::7/${naclId}/${ruleNumber}.json`]);
  });

  it('places the deny below a lower custom allow rule, skipping used numbers', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    await addEgressEntry(naclId, { RuleNumber: 1, Protocol: '6', RuleAction: 'deny', CidrBlock: '198.51.100.1/32', PortRange: { From: 22, To: 22 } });
    await addEgressEntry(naclId, { RuleNumber: 2, Protocol: '6', RuleAction: 'deny', CidrBlock: '198.51.100.2/32', PortRange: { From: 22, To: 22 } });
    await addEgressEntry(naclId, { RuleNumber: 5, Protocol: '6', RuleAction: 'allow', CidrBlock: '0.0.0.0/0', PortRange: { From: 443, To: 443 } });

    const result = await denyEgress(request({ ip: PUBLIC_IP, port: 443, subnetId }), depsFor(await newBucket()));

    expect(result.details).toMatchObject({ ruleNumber: 3, firstAllow: 5, created: true });
    expect(decidingEgressEntry(await egressEntries(naclId), PUBLIC_IP, 443)).toMatchObject({ RuleNumber: 3, RuleAction: 'deny' });
  });

  it('is skipped when an identical deny already wins: no new entry, no record', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    await addEgressEntry(naclId, { RuleNumber: 7, Protocol: '6', RuleAction: 'deny', CidrBlock: `${PUBLIC_IP}/32`, PortRange: { From: 4444, To: 4444 } });
    const bucket = await newBucket();
    const before = await egressEntries(naclId);

    const result = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId }), depsFor(bucket));

    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ naclId, ruleNumber: 7, created: false, record: null });
    expect(result.summary).toBe(`egress to ${PUBLIC_IP} tcp/4444 is already denied: rule 7 already denies this in ${naclId}`);
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);
  });

  it('is skipped on a second run (its own rule already wins), keeping one rule and one record', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const first = await denyEgress(request({ ip: PUBLIC_IP, subnetId }), depsFor(bucket));
    const second = await denyEgress(request({ ip: PUBLIC_IP, subnetId }), depsFor(bucket));

    expect(first.status).toBe('succeeded');
    expect(second.status).toBe('skipped');
    expect(second.details.ruleNumber).toBe(first.details.ruleNumber);
    expect((await egressEntries(naclId)).filter((e) => e.CidrBlock === `${PUBLIC_IP}/32`)).toHaveLength(1);
    expect(await bucketKeys(bucket)).toHaveLength(1);
  });

  it("refuses a full network ACL whose rules are all the customer's: nothing of theirs is evicted, nothing written", async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    // 19 egress denies + the default allow at 100 = 20 IPv4 egress rules, the AWS quota.
    for (let n = 1; n <= 19; n++) {
      await addEgressEntry(naclId, { RuleNumber: n, Protocol: '6', RuleAction: 'deny', CidrBlock: `198.51.100.${n}/32`, PortRange: { From: 22, To: 22 } });
    }
    const bucket = await newBucket();
    const before = await egressEntries(naclId);

    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, port: 4444, subnetId }, invokeOptions, depsFor(bucket));

    expect(result).toEqual({
      status: 'failed',
      summary: `the network ACL ${naclId} holds 20 IPv4 egress rules of its quota of 20 (SENTINEL_NACL_MAX_RULES), and none of sentinel's blocks there has expired or has a lower severity; remove a rule or raise the quota`,
      details: { error: 'NaclFull', final: true },
    });
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);
  });

  it('re-reads and re-plans when another writer takes the chosen rule number first', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    // A second set of clients whose first CreateNetworkAclEntry is beaten to its rule number
    // by another writer (a real entry created in moto just before the request goes out).
    const racing = createMotoClients();
    let raced: number | undefined;
    racing.ec2.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateNetworkAclEntryCommand' && raced === undefined) {
          raced = (args.input as CreateNetworkAclEntryCommandInput).RuleNumber!;
          await addEgressEntry(naclId, { RuleNumber: raced, Protocol: '6', RuleAction: 'deny', CidrBlock: '198.51.100.77/32', PortRange: { From: 25, To: 25 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'beatToTheRuleNumber' },
    );
    try {
      const result = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId }), depsFor(bucket, {}, { aws: racing }));

      expect(raced).toBe(1);
      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ ruleNumber: 2, attempts: 2, created: true });
      const after = await egressEntries(naclId);
      // The other writer's entry is untouched; ours took the next free number.
      expect(after.find((e) => e.RuleNumber === 1)).toMatchObject({ CidrBlock: '198.51.100.77/32', PortRange: { From: 25, To: 25 } });
      expect(after.find((e) => e.RuleNumber === 2)).toMatchObject({ CidrBlock: `${PUBLIC_IP}/32`, RuleAction: 'deny' });
      expect(await bucketKeys(bucket)).toEqual([`blocks/${PUBLIC_IP}/${naclId}/2.json`]);
    } finally {
      destroyAwsClients(racing);
    }
  });
});

describe('deny-egress: finding the network ACL', () => {
  it('finds it from a node name (the private DNS name) through the instance and its subnet', async () => {
    const { subnetId, instanceId, privateDnsName } = await instanceWithOwnName();
    const naclId = await naclOfSubnet(subnetId);

    const result = await denyEgress(request({ ip: PUBLIC_IP, port: 8443, node: privateDnsName }), depsFor(await newBucket()));

    expect(result.status).toBe('succeeded');
    expect(result.details.naclId).toBe(naclId);
    expect(result.details.naclSource).toBe(`node ${privateDnsName}: instance ${instanceId} in subnet ${subnetId}`);
    expect(decidingEgressEntry(await egressEntries(naclId), PUBLIC_IP, 8443)).toMatchObject({ RuleNumber: result.details.ruleNumber, RuleAction: 'deny' });
  });

  it('finds it from an instance id and from an aws:///zone/i-… provider id', async () => {
    const { subnetId, availabilityZone, instanceId } = await instanceWithOwnName();
    const naclId = await naclOfSubnet(subnetId);
    const deps = depsFor(await newBucket());

    for (const input of [{ instanceId }, { node: instanceId }, { node: `aws:///${availabilityZone}/${instanceId}` }]) {
      const result = await denyEgress(request({ ip: PUBLIC_IP, ...input }, { dryRun: true }), deps);
      expect(result.details).toMatchObject({ naclId, naclSource: expect.stringContaining(`instance ${instanceId} in subnet ${subnetId}`) });
    }
  });

  it('refuses a node name that several instances share (overlapping VPCs) and asks for the instance id', async () => {
    const first = await createVpcWithSubnet(aws.ec2);
    const second = await createVpcWithSubnet(aws.ec2);
    const a = await launchInstance(first.subnetId, '10.0.1.77');
    const b = await launchInstance(second.subnetId, '10.0.1.77');
    expect(a.privateDnsName).toBe(b.privateDnsName);
    const bucket = await newBucket();

    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, node: a.privateDnsName }, invokeOptions, depsFor(bucket));

    expect(result).toMatchObject({ status: 'failed', details: { error: 'Conflict', final: true } });
    expect(result.summary.startsWith(`node ${a.privateDnsName}: `)).toBe(true);
    expect(result.summary).toMatch(/: \d+ instances have this private DNS name \(.+\); give the instance id$/);
    expect(result.summary).toContain(a.instanceId);
    expect(result.summary).toContain(b.instanceId);
    expect(await bucketKeys(bucket)).toEqual([]);
  });

  it('uses SENTINEL_NACL_ID when set, and an explicit naclId over it', async () => {
    const { vpcId, subnetId } = await createVpcWithSubnet(aws.ec2);
    const configured = (await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }))).NetworkAcl!.NetworkAclId!;
    const explicit = (await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }))).NetworkAcl!.NetworkAclId!;
    const bucket = await newBucket();

    const viaSetting = await denyEgress(request({ ip: PUBLIC_IP, port: 22 }), depsFor(bucket, { naclId: configured }));
    expect(viaSetting.details).toMatchObject({ naclId: configured, naclSource: 'SENTINEL_NACL_ID', firstAllow: null, ruleNumber: 1 });
    expect(await egressEntries(configured)).toHaveLength(1);

    // The setting wins over a node/subnet (it is "the ACL to use instead of the node subnet's")…
    const overSubnet = await denyEgress(request({ ip: PUBLIC_IP, port: 23, subnetId }, { dryRun: true }), depsFor(bucket, { naclId: configured }));
    expect(overSubnet.details.naclId).toBe(configured);
    // …and an explicit naclId in the request wins over the setting.
    const viaInput = await denyEgress(request({ ip: PUBLIC_IP, port: 22, naclId: explicit }), depsFor(bucket, { naclId: configured }));
    expect(viaInput.details).toMatchObject({ naclId: explicit, naclSource: 'input naclId', created: true });
    expect(await egressEntries(explicit)).toHaveLength(1);
    expect(await egressEntries(configured)).toHaveLength(1);
  });

  it.each([
    ['an unknown instance id', { instanceId: 'i-0000000000000dead' }, /instance i-0000000000000dead: not found/],
    ['an unknown node name', { node: 'ip-10-254-254-254.ap-northeast-2.compute.internal' }, /no instance has this private DNS name/],
    ['an unknown provider id', { node: 'aws:///ap-northeast-2a/i-0000000000000beef' }, /node aws:\/\/\/ap-northeast-2a\/i-0000000000000beef: not found/],
    ['an unknown subnet', { subnetId: 'subnet-0000000000000dead' }, /subnet subnet-0000000000000dead: not found/],
    ['an unknown network ACL', { naclId: 'acl-0000000000000dead' }, /network ACL acl-0000000000000dead: not found/],
  ])('fails NotFound for %s', async (_what, locator, message) => {
    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, ...locator }, invokeOptions, depsFor(await newBucket()));
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'NotFound', final: true });
    expect(result.summary).toMatch(message);
  });

  it('fails when nothing says which network ACL to use', async () => {
    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP }, invokeOptions, depsFor(await newBucket()));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'Validation', final: true } });
    expect(result.summary).toMatch(/give node, instanceId, subnetId or naclId \(or set SENTINEL_NACL_ID\)/);
  });
});

describe('deny-egress: protected destinations are refused before any write', () => {
  it.each([
    ['private', '192.168.1.10', /private \(192\.168\.0\.0\/16\)/],
    ['link-local (instance metadata)', '169.254.169.254', /link-local/],
    ['loopback', '127.0.0.1', /loopback/],
    ['multicast', '224.0.0.251', /multicast/],
    ['IPv6 link-local', 'fe80::1', /link-local \(fe80::\/10\)/],
  ])('%s: %s', async (_what, ip, reason) => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const before = await egressEntries(naclId);

    const result = await invokeAction(denyEgressAction, { ip, port: 443, subnetId }, invokeOptions, depsFor(bucket));

    expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
    expect(result.summary).toMatch(reason);
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);
  });

  it("refuses addresses in the VPC's own IPv4 associations and IPv6 block", async () => {
    const { vpcId, subnetId, ipv6CidrBlock } = await createVpcWithSubnet(aws.ec2, { ipv6: true });
    // A secondary, publicly routable IPv4 range: only the VPC check can refuse it.
    await aws.ec2.send(new AssociateVpcCidrBlockCommand({ VpcId: vpcId, CidrBlock: '198.51.100.0/24' }));
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const before = await egressEntries(naclId);
    expect(ipv6CidrBlock).toBeTruthy();
    const inIpv6Block = ipv6CidrBlock!.replace(/::\/\d+$/, '::42');

    for (const [ip, cidr] of [['198.51.100.20', '198.51.100.0/24'], [inIpv6Block, ipv6CidrBlock!]] as const) {
      const result = await invokeAction(denyEgressAction, { ip, subnetId }, invokeOptions, depsFor(bucket));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
      // The address and the range are named in canonical form (moto's random IPv6 blocks may have leading zeros, e.g. 2400:6500:0a1b:…).
      const canonical = normalizeIp(ip);
      const [base, length] = cidr.split('/');
      expect(result.summary).toBe(`refusing to deny egress to ${canonical}: ${canonical} is in the VPC's own range (${normalizeIp(base!)}/${length})`);
    }
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);
    // The same address is fine for a network ACL of another VPC.
    const other = await createVpcWithSubnet(aws.ec2);
    const allowed = await denyEgress(request({ ip: '198.51.100.20', subnetId: other.subnetId }, { dryRun: true }), depsFor(bucket));
    expect(allowed.details.ruleNumber).toBe(1);
  });

  it('refuses an address on the configured egress allowlist', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const before = await egressEntries(naclId);
    const deps = depsFor(bucket, { egressAllowlist: ['203.0.113.0/28', '2001:db8:1::/48'] });

    const v4 = await invokeAction(denyEgressAction, { ip: '203.0.113.9', subnetId }, invokeOptions, deps);
    expect(v4).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget' } });
    expect(v4.summary).toMatch(/203\.0\.113\.9 is on the egress allowlist \(203\.0\.113\.0\/28\)/);
    const v6 = await invokeAction(denyEgressAction, { ip: '2001:db8:1::5', subnetId }, invokeOptions, deps);
    expect(v6.summary).toMatch(/on the egress allowlist \(2001:db8:1::\/48\)/);
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);

    // Just outside the allowlisted /28: allowed.
    const outside = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, subnetId }, invokeOptions, deps);
    expect(outside.status).toBe('succeeded');
  });
});

describe('deny-egress: input, dry run, record', () => {
  it.each([
    ['not an IP', { ip: 'example.com', subnetId: 'subnet-0123456789abcdef0' }, /ip: an IPv4 or IPv6 address/],
    ['a CIDR', { ip: '203.0.113.0/24', subnetId: 'subnet-0123456789abcdef0' }, /ip: an IPv4 or IPv6 address/],
    ['an IPv4 address with a leading zero', { ip: '203.0.113.045', subnetId: 'subnet-0123456789abcdef0' }, /ip: an IPv4 or IPv6 address/],
    ['an address with a zone id', { ip: 'fe80::1%eth0', subnetId: 'subnet-0123456789abcdef0' }, /ip: an IPv4 or IPv6 address/],
    ['a port out of range', { ip: PUBLIC_IP, port: 70000, subnetId: 'subnet-0123456789abcdef0' }, /port:/],
    ['two ways to find the ACL', { ip: PUBLIC_IP, subnetId: 'subnet-0123456789abcdef0', naclId: 'acl-0123456789abcdef0' }, /at most one of node, instanceId, subnetId, naclId/],
    ['an expiry that is not ISO', { ip: PUBLIC_IP, subnetId: 'subnet-0123456789abcdef0', expiresAt: 'tomorrow' }, /expiresAt/],
    ['an unknown field', { ip: PUBLIC_IP, subnetId: 'subnet-0123456789abcdef0', protocol: 'udp' }, /protocol/],
  ])('refuses %s as InvalidInput', async (_what, input, message) => {
    const result = await invokeAction(denyEgressAction, input, invokeOptions, depsFor('unused-bucket'));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    expect(result.summary).toMatch(/^invalid input for deny-egress: /);
    expect(result.summary).toMatch(message);
  });

  it('dry run returns the plan and writes nothing', async () => {
    const { subnetId, vpcId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const before = await egressEntries(naclId);

    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, port: 4444, subnetId }, { ...invokeOptions, dryRun: true }, depsFor(bucket));

    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(new RegExp(`^dry run: would deny egress to ${PUBLIC_IP} tcp/4444 with rule 1 of ${naclId} \\(before allow rule 100\\) until \\d{4}-`));
    expect(result.details).toMatchObject({ dryRun: true, naclId, vpcId, ruleNumber: 1, cidr: `${PUBLIC_IP}/32`, firstAllow: 100, created: false, record: null });
    expect(await egressEntries(naclId)).toEqual(before);
    expect(await bucketKeys(bucket)).toEqual([]);
  });

  it('records who, why, when, the incident and the expiry with the rule', async () => {
    const { subnetId, vpcId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const now = new Date('2031-05-06T07:08:09.000Z');
    const deps = depsFor(bucket, {}, { now: () => now });

    const withRequestReason = await denyEgress(
      request(
        { ip: PUBLIC_IP, port: 4444, subnetId, expiresAt: '2031-05-07T16:08:09+09:00', reason: 'from the input' },
        { reason: 'C2 beacon seen by Falco', incidentId: 'inc-42' },
      ),
      deps,
    );
    expect(await readJson(withRequestReason.details.record!)).toEqual({
      version: 1,
      kind: 'nacl-egress-deny',
      ip: PUBLIC_IP,
      cidr: `${PUBLIC_IP}/32`,
      ipv6: false,
      port: 4444,
      protocol: '6',
      portRange: { from: 4444, to: 4444 },
      naclId,
      ruleNumber: withRequestReason.details.ruleNumber,
      vpcId,
      actor: ACTOR,
      reason: 'C2 beacon seen by Falco',
      incidentId: 'inc-42',
      createdAt: '2031-05-06T07:08:09.000Z',
      expiresAt: '2031-05-07T07:08:09.000Z',
      severity: null,
    });

    // Without an expiry, the block lasts SENTINEL_BLOCK_TTL_HOURS (24 by default); the triage severity is kept.
    const withInputReason = await denyEgress(request({ ip: PUBLIC_IP, port: 25, subnetId, reason: 'spam relay', severity: 'critical' }, { actor: 'cli' }), deps);
    expect(await readJson(withInputReason.details.record!)).toMatchObject({ actor: 'cli', reason: 'spam relay', port: 25, expiresAt: '2031-05-07T07:08:09.000Z', severity: 'critical' });
    expect(withInputReason.details.expiresAt).toBe('2031-05-07T07:08:09.000Z');
    const shortTtl = await denyEgress(request({ ip: PUBLIC_IP, port: 27, subnetId }), depsFor(bucket, { blockTtlHours: 2 }, { now: () => now }));
    expect(await readJson(shortTtl.details.record!)).toMatchObject({ expiresAt: '2031-05-06T09:08:09.000Z' });

    const withoutReason = await denyEgress(request({ ip: PUBLIC_IP, port: 26, subnetId }), deps);
    expect(await readJson(withoutReason.details.record!)).toMatchObject({ reason: null, port: 26 });
  });

  it('refuses an expiry in the past before any call', async () => {
    const result = await invokeAction(
      denyEgressAction,
      { ip: PUBLIC_IP, subnetId: 'subnet-0000000000000dead', expiresAt: '2020-01-01T00:00:00Z' },
      invokeOptions,
      depsFor('unused-bucket'),
    );
    expect(result).toMatchObject({ status: 'failed', details: { error: 'Validation', final: true } });
    expect(result.summary).toBe('expiresAt 2020-01-01T00:00:00Z is not in the future');
  });

  it('fails before writing the rule when no bucket is configured', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const before = await egressEntries(naclId);

    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, subnetId }, invokeOptions, depsFor(undefined));

    expect(result).toMatchObject({ status: 'failed', details: { error: 'Config', final: false } });
    expect(result.summary).toMatch(/^SENTINEL_EVIDENCE_BUCKET is not set/);
    expect(await egressEntries(naclId)).toEqual(before);
  });

  it('takes the rule out again when the record cannot be written', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const before = await egressEntries(naclId);
    const missingBucket = uniqueName('no-such-bucket');

    const result = await invokeAction(denyEgressAction, { ip: PUBLIC_IP, port: 4444, subnetId }, invokeOptions, depsFor(missingBucket));

    expect(result).toMatchObject({ status: 'failed', details: { error: 'Aws', final: false } });
    expect(result.summary).toMatch(/^could not record the block \(cannot store block record at s3:\/\/no-such-bucket-[^)]*\); rule 1 was taken out of acl-[0-9a-f]+ again, so nothing is blocked$/);
    expect(await egressEntries(naclId)).toEqual(before);
  });

  it('replaces a stale record whose rule was removed by hand', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    const bucket = await newBucket();
    const first = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId }, { incidentId: 'inc-old' }), depsFor(bucket));
    await aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber: first.details.ruleNumber, Egress: true }));

    const second = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId }, { incidentId: 'inc-new' }), depsFor(bucket));

    expect(second.status).toBe('succeeded');
    expect(second.details).toMatchObject({ ruleNumber: first.details.ruleNumber, replacedStaleRecord: true, record: first.details.record });
    expect(await readJson(second.details.record!)).toMatchObject({ incidentId: 'inc-new' });
  });

  it('calls only the IAM actions it declares, and each of them in some path', async () => {
    const called = new Set<string>();
    const recording = createMotoClients();
    // IAM names: ListObjectsV2 is authorised as s3:ListBucket.
    const commandName = (context: { commandName?: string }) => String(context.commandName).replace(/Command$/, '').replace(/^ListObjectsV2$/, 'ListBucket');
    recording.ec2.middlewareStack.add(
      (next, context) => async (args) => {
        called.add(`ec2:${commandName(context)}`);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    recording.s3.middlewareStack.add(
      (next, context) => async (args) => {
        called.add(`s3:${commandName(context)}`);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    try {
      const { subnetId, privateDnsName } = await instanceWithOwnName();
      const bucket = await newBucket();
      const deps = (b: string) => depsFor(b, {}, { aws: recording });
      // A full run (node lookup, VPC ranges, create, record), a subnet that needs the VPC default
      // ACL lookup, a run whose record cannot be written (rolled back), and one that evicts
      // sentinel's own lower-severity block from a full ACL (records listed, read and removed).
      expect((await denyEgress(request({ ip: PUBLIC_IP, port: 1, node: privateDnsName }), deps(bucket))).status).toBe('succeeded');
      const evicting = await denyEgress(request({ ip: PUBLIC_IP, port: 3, node: privateDnsName, severity: 'critical' }), depsFor(bucket, { naclMaxRules: 2 }, { aws: recording }));
      expect(evicting.details.evicted).toMatchObject({ outcome: expect.stringMatching(/^removed rule/) });
      expect((await invokeAction(denyEgressAction, { ip: PUBLIC_IP, subnetId: 'subnet-0000000000000dead' }, invokeOptions, deps(bucket))).status).toBe('failed');
      expect((await invokeAction(denyEgressAction, { ip: PUBLIC_IP, port: 2, subnetId }, invokeOptions, deps(uniqueName('no-such-bucket')))).status).toBe('failed');
    } finally {
      destroyAwsClients(recording);
    }
    expect([...called].sort()).toEqual([...denyEgressAction.permissions.iam].sort());
    // The cluster backends' RBAC (denyEgressCluster.test.ts); the network ACL backend needs none.
    expect(denyEgressAction.permissions.rbac.flatMap((r) => r.resources).sort()).toEqual(['ciliumclusterwidenetworkpolicies', 'globalnetworkpolicies', 'nodes', 'tier.globalnetworkpolicies', 'tiers']);
  });
});

describe('deny-egress: room in the network ACL, eviction, protected destinations', () => {
  const AUTOMATIC = 'stepfunctions:falco-exec-1';

  /** A fresh ACL holding the default allow at 100 and `customer` hand-made egress denies (not sentinel's). */
  async function aclWith(customer: number) {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const naclId = await naclOfSubnet(subnetId);
    for (let n = 0; n < customer; n++) {
      await addEgressEntry(naclId, { RuleNumber: 50 + n, Protocol: '6', RuleAction: 'deny', CidrBlock: `192.0.2.${n + 1}/32`, PortRange: { From: 25, To: 25 } });
    }
    return { subnetId, naclId, bucket: await newBucket() };
  }

  it('stops an automatic block SENTINEL_NACL_HEADROOM rules short of the quota (NeedsApproval.Quota), while a person may fill it', async () => {
    const { subnetId, naclId, bucket } = await aclWith(16); // 16 + the allow at 100 = 17 of 20
    const deps = depsFor(bucket);
    const first = await invokeAction(denyEgressAction, { ip: '198.51.100.1', subnetId, severity: 'high' }, { actor: AUTOMATIC, incidentId: 'inc-a' }, deps);
    expect(first.status).toBe('succeeded'); // 18 of 20 now
    const before = await egressEntries(naclId);

    const second = await invokeAction(denyEgressAction, { ip: '198.51.100.2', subnetId, severity: 'high' }, { actor: AUTOMATIC, incidentId: 'inc-b' }, deps);
    expect(second).toMatchObject({ status: 'failed', details: { error: 'NeedsApproval.Quota', final: true } });
    expect(second.summary).toBe(
      `network ACL ${naclId} holds 18 IPv4 egress rules of its quota of 20 (SENTINEL_NACL_MAX_RULES); automatic blocks stop 2 rules short of it (SENTINEL_NACL_HEADROOM) and none of sentinel's blocks there has expired or has a lower severity: a responder must approve this block`,
    );
    expect(await egressEntries(naclId)).toEqual(before);

    // The same block, approved by a person (the bot runs it as the approvers), goes past the headroom.
    const approved = await invokeAction(denyEgressAction, { ip: '198.51.100.2', subnetId, severity: 'high' }, { actor: 'discord:111111111111111111', incidentId: 'inc-b' }, deps);
    expect(approved.status).toBe('succeeded');
    expect(approved.details).toMatchObject({ automatic: false });
  });

  it("evicts only sentinel's oldest expired block from a full ACL, with a report line, and never the customer's rules", async () => {
    const { subnetId, naclId, bucket } = await aclWith(15); // 15 + allow = 16 of 20
    let clock = new Date('2031-01-01T00:00:00Z');
    const deps = depsFor(bucket, {}, { now: () => clock });
    const blockAt = async (ip: string, at: string, ttlHours: number, severity: 'low' | 'high') => {
      clock = new Date(at);
      const r = await denyEgress(request({ ip, subnetId, severity }, { actor: 'discord:1' }), depsFor(bucket, { blockTtlHours: ttlHours }, { now: () => clock }));
      expect(r.status).toBe('succeeded');
      return r.details;
    };
    // Four of sentinel's blocks fill the ACL: two expire (the older expiry first), two do not.
    const expiresSecond = await blockAt('198.51.100.11', '2031-01-01T00:00:00Z', 3, 'high');
    const expiresFirst = await blockAt('198.51.100.12', '2031-01-01T00:10:00Z', 1, 'high');
    const fresh = await blockAt('198.51.100.13', '2031-01-01T00:20:00Z', 48, 'low');
    await blockAt('198.51.100.14', '2031-01-01T00:30:00Z', 48, 'high');
    const customer = (await egressEntries(naclId)).filter((e) => e.RuleNumber! >= 50 && e.RuleNumber! < 100);
    expect(customer).toHaveLength(15);

    clock = new Date('2031-01-01T05:00:00Z'); // both expired; nobody swept them yet
    const result = await denyEgress(request({ ip: PUBLIC_IP, port: 4444, subnetId, severity: 'medium' }), deps);

    expect(result.status).toBe('succeeded');
    expect(result.details.evicted).toMatchObject({ id: expiresFirst.blockId, ip: '198.51.100.12', why: 'it expired at 2031-01-01T01:10:00.000Z' });
    expect(result.summary).toContain(`to make room, evicted sentinel's block ${expiresFirst.blockId} (198.51.100.12: it expired at 2031-01-01T01:10:00.000Z): removed rule ${expiresFirst.ruleNumber} of ${naclId}`);
    const after = await egressEntries(naclId);
    expect(after.filter((e) => e.RuleNumber! >= 50 && e.RuleNumber! < 100)).toEqual(customer);
    expect(after.map((e) => e.CidrBlock)).not.toContain('198.51.100.12/32');
    expect(after.map((e) => e.CidrBlock)).toEqual(expect.arrayContaining(['198.51.100.11/32', '198.51.100.13/32', '198.51.100.14/32', `${PUBLIC_IP}/32`]));
    const keys = await bucketKeys(bucket);
    expect(keys).not.toContain(`blocks/198.51.100.12/${naclId}/${expiresFirst.ruleNumber}.json`);
    expect(keys).toContain(`blocks/198.51.100.11/${naclId}/${expiresSecond.ruleNumber}.json`);

    // Nothing expired any more but the other old one: it goes next; then the low-severity one, for a higher severity only.
    const next = await denyEgress(request({ ip: '203.0.113.46', subnetId, severity: 'medium' }), deps);
    expect(next.details.evicted).toMatchObject({ ip: '198.51.100.11' });
    const lowGoes = await denyEgress(request({ ip: '203.0.113.47', subnetId, severity: 'critical' }), deps);
    expect(lowGoes.details.evicted).toMatchObject({ id: fresh.blockId, why: expect.stringMatching(/severity \(low\) is the lowest/) });
    const none = await invokeAction(denyEgressAction, { ip: '203.0.113.48', subnetId, severity: 'low' }, invokeOptions, deps);
    expect(none).toMatchObject({ status: 'failed', details: { error: 'NaclFull' } });
    expect((await egressEntries(naclId)).filter((e) => e.RuleNumber! >= 50 && e.RuleNumber! < 100)).toEqual(customer);
  });

  it('shows an eviction in a dry run without lifting or creating anything', async () => {
    const { subnetId, naclId, bucket } = await aclWith(18); // 18 + allow = 19
    const old = await denyEgress(request({ ip: '198.51.100.21', subnetId, severity: 'low' }), depsFor(bucket));
    const before = await egressEntries(naclId);
    const dry = await denyEgress(request({ ip: PUBLIC_IP, subnetId, severity: 'high' }, { dryRun: true }), depsFor(bucket));
    expect(dry.summary).toMatch(new RegExp(`^dry run: would evict sentinel's block ${old.details.blockId!.replace(/[.]/g, '\\.')} \\(198\\.51\\.100\\.21, rule ${old.details.ruleNumber}: its severity \\(low\\) is the lowest`));
    expect(dry.details.evicted).toMatchObject({ outcome: 'would be lifted' });
    expect(await egressEntries(naclId)).toEqual(before);
  });

  it.each([
    ['::ffff:a00:1', /to 10\.0\.0\.1: 10\.0\.0\.1 is private/],
    ['64:ff9b::a00:1', /NAT64 form of 10\.0\.0\.1, which is private/],
    ['2002:a00:1::', /6to4 form of 10\.0\.0\.1, which is private/],
    ['52.95.110.1', /in AWS's published range 52\.95\.110\.0\/24 \(ROUTE53, AMAZON; GLOBAL\)/],
  ])('refuses %s before any AWS call', async (ip, reason) => {
    const result = await invokeAction(denyEgressAction, { ip, subnetId: 'subnet-0000000000000dead' }, invokeOptions, depsFor('unused-bucket'));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
    expect(result.summary).toMatch(reason);
  });

  it('blocks an IPv4-mapped address as its IPv4 address (one canonical form for the rule and the record)', async () => {
    const { subnetId, bucket } = await aclWith(0);
    const result = await denyEgress(request({ ip: `::ffff:${PUBLIC_IP}`, subnetId }), depsFor(bucket));
    expect(result.details).toMatchObject({ ip: PUBLIC_IP, cidr: `${PUBLIC_IP}/32` });
    expect(await bucketKeys(bucket)).toEqual([expect.stringMatching(new RegExp(`^blocks/${PUBLIC_IP.replace(/\./g, '\\.')}/acl-`))]);
  });
});
