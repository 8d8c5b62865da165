/**
 * unblock-egress against moto with the real AWS SDK. Each test blocks with deny-egress in its own
 * VPC and bucket, then checks that unblock removes exactly sentinel's rule and record.
 */
import {
  CreateNetworkAclEntryCommand,
  DeleteNetworkAclEntryCommand,
  DescribeNetworkAclsCommand,
  ReplaceNetworkAclEntryCommand,
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { denyEgress, type DenyEgressInput } from '../../../../src/pipeline/actions/containment/denyEgress.js';
import type { ActionDeps, ActionRequest } from '../../../../src/pipeline/actions/types.js';
import { unblockEgress, unblockEgressAction } from '../../../../src/pipeline/actions/containment/unblockEgress.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, createVpcWithSubnet, MOTO_REGION, uniqueName } from '../../../support/aws.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

const IP = '203.0.113.45';
const invokeOptions = { actor: 'discord:123456789012345678', incidentId: 'inc-unblock-1' };

function request<I>(input: I, extra: Partial<ActionRequest<I>> = {}): ActionRequest<I> {
  return { input, ...invokeOptions, ...extra };
}

interface Fixture {
  subnetId: string;
  naclId: string;
  bucket: string;
  deps: ActionDeps;
}

async function fixture(options: { ipv6?: boolean } = {}): Promise<Fixture> {
  const { subnetId } = await createVpcWithSubnet(aws.ec2, options);
  const acls = await aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }));
  const naclId = acls.NetworkAcls![0]!.NetworkAclId!;
  const bucket = uniqueName('blocks');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  const deps: ActionDeps = {
    aws,
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
  return { subnetId, naclId, bucket, deps };
}

async function block(f: Fixture, input: Omit<DenyEgressInput, 'subnetId'>): Promise<number> {
  const result = await denyEgress(request({ ...input, subnetId: f.subnetId }), f.deps);
  if (result.status !== 'succeeded') throw new Error(`deny-egress did not block: ${result.summary}`);
  return result.details.ruleNumber;
}

async function egressEntries(naclId: string): Promise<NetworkAclEntry[]> {
  const out = await aws.ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [naclId] }));
  return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress).sort((a, b) => a.RuleNumber! - b.RuleNumber!);
}

async function bucketKeys(bucket: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

describe('unblock-egress', () => {
  it("removes exactly sentinel's rule and record, not an identical-looking rule someone added at another number", async () => {
    const f = await fixture();
    const ours = await block(f, { ip: IP, port: 4444 });
    // Someone adds the very same deny by hand, at another number.
    await aws.ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: f.naclId, RuleNumber: 50, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 },
      }),
    );
    const before = await egressEntries(f.naclId);

    const result = await unblockEgress(request({ ip: IP, port: 4444 }), f.deps);

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`unblocked ${IP} tcp/4444: removed rule ${ours} of ${f.naclId}`);
    expect(result.details).toMatchObject({ ip: IP, port: 4444, rulesRemoved: 1, leftInPlace: 0 });
    expect(result.details.blocks).toEqual([
      {
        id: `${IP}/${f.naclId}/${ours}`,
        ip: IP,
        naclId: f.naclId,
        ruleNumber: ours,
        cidr: `${IP}/32`,
        port: 4444,
        record: `s3://${f.bucket}/blocks/${IP}/${f.naclId}/${ours}.json`,
        outcome: 'removed',
        recordRemoved: true,
      },
    ]);
    const after = await egressEntries(f.naclId);
    expect(after).toEqual(before.filter((e) => e.RuleNumber !== ours));
    expect(after.find((e) => e.RuleNumber === 50)).toMatchObject({ RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 } });
    expect(after.find((e) => e.RuleNumber === 100)).toMatchObject({ RuleAction: 'allow' });
    expect(await bucketKeys(f.bucket)).toEqual([]);

    // Nothing of sentinel's is left: the hand-made rule stays.
    const again = await unblockEgress(request({ ip: IP, port: 4444 }), f.deps);
    expect(again).toMatchObject({ status: 'skipped', summary: `no block by sentinel for ${IP} tcp/4444` });
    expect(await egressEntries(f.naclId)).toEqual(after);
  });

  it.each([
    ['a different address', { Protocol: '6', RuleAction: 'deny', CidrBlock: '198.51.100.9/32', PortRange: { From: 4444, To: 4444 } }, 'deny tcp 198.51.100.9/32 ports 4444-4444'],
    ['an allow', { Protocol: '6', RuleAction: 'allow', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 } }, `allow tcp ${IP}/32 ports 4444-4444`],
    ['ports up to 4445', { Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4445 } }, `deny tcp ${IP}/32 ports 4444-4445`],
    ['ports from 4443', { Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4443, To: 4444 } }, `deny tcp ${IP}/32 ports 4443-4444`],
    ['UDP', { Protocol: '17', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 } }, `deny udp ${IP}/32 ports 4444-4444`],
    ['all protocols', { Protocol: '-1', RuleAction: 'deny', CidrBlock: `${IP}/32` }, `deny all protocols ${IP}/32`],
  ] as const)('leaves a rule someone replaced at the same number (%s) alone and keeps the record', async (_what, replacement, described) => {
    const f = await fixture();
    const ours = await block(f, { ip: IP, port: 4444 });
    await aws.ec2.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: f.naclId, RuleNumber: ours, Egress: true, ...replacement }));
    const before = await egressEntries(f.naclId);
    const records = await bucketKeys(f.bucket);

    const result = await unblockEgress(request({ ip: IP }), f.deps);

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`did not unblock ${IP}: left rule ${ours} of ${f.naclId} alone: it is no longer sentinel's deny (now ${described}); its record is kept`);
    expect(result.details).toMatchObject({ rulesRemoved: 0, leftInPlace: 1, blocks: [{ outcome: 'changed', recordRemoved: false, current: described }] });
    expect(await egressEntries(f.naclId)).toEqual(before);
    expect(await bucketKeys(f.bucket)).toEqual(records);
  });

  it('removes the record and says so when the rule is already gone', async () => {
    const f = await fixture();
    const ours = await block(f, { ip: IP });
    await aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: f.naclId, RuleNumber: ours, Egress: true }));
    const before = await egressEntries(f.naclId);

    const result = await unblockEgress(request({ ip: IP }), f.deps);

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`unblocked ${IP}: rule ${ours} of ${f.naclId} was already gone (forgot its record)`);
    expect(result.details.blocks).toMatchObject([{ outcome: 'already-gone', recordRemoved: true }]);
    expect(await egressEntries(f.naclId)).toEqual(before);
    expect(await bucketKeys(f.bucket)).toEqual([]);
  });

  it('is skipped when sentinel recorded no block for the IP, even if the NACL denies it', async () => {
    const f = await fixture();
    await aws.ec2.send(
      new CreateNetworkAclEntryCommand({ NetworkAclId: f.naclId, RuleNumber: 3, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 0, To: 65535 } }),
    );
    const before = await egressEntries(f.naclId);

    const result = await invokeAction(unblockEgressAction, { ip: IP }, invokeOptions, f.deps);

    expect(result).toEqual({
      status: 'skipped',
      summary: `no block by sentinel for ${IP}`,
      details: { ip: IP, port: null, blocks: [], rulesRemoved: 0, leftInPlace: 0 },
    });
    expect(await egressEntries(f.naclId)).toEqual(before);
  });

  it('with a port, removes only that port\'s block and names the others when none matches', async () => {
    const f = await fixture();
    const https = await block(f, { ip: IP, port: 443 });
    const ssh = await block(f, { ip: IP, port: 22 });

    const none = await unblockEgress(request({ ip: IP, port: 8080 }), f.deps);
    expect(none.status).toBe('skipped');
    expect(none.summary).toBe(`no block by sentinel for ${IP} tcp/8080 (sentinel has blocks of ${IP} on tcp/443, tcp/22)`);
    expect(none.details.otherPorts).toEqual([443, 22]);

    const result = await unblockEgress(request({ ip: IP, port: 443 }), f.deps);
    expect(result.details.blocks.map((b) => [b.ruleNumber, b.outcome])).toEqual([[https, 'removed']]);
    const left = await egressEntries(f.naclId);
    expect(left.map((e) => e.RuleNumber)).not.toContain(https);
    expect(left.find((e) => e.RuleNumber === ssh)).toMatchObject({ PortRange: { From: 22, To: 22 }, RuleAction: 'deny' });
    expect(await bucketKeys(f.bucket)).toEqual([`blocks/${IP}/${f.naclId}/${ssh}.json`]);
  });

  it('without a port, removes every block of the IP and nothing of other IPs', async () => {
    const f = await fixture();
    const a = await block(f, { ip: IP, port: 443 });
    const b = await block(f, { ip: IP });
    const other = await block(f, { ip: '203.0.113.4', port: 443 });

    const result = await unblockEgress(request({ ip: IP }), f.deps);

    expect(result.status).toBe('succeeded');
    expect(result.details.blocks.map((x) => x.ruleNumber).sort()).toEqual([a, b].sort());
    expect((await egressEntries(f.naclId)).map((e) => e.RuleNumber)).toEqual([other, 100, 32767]);
    expect(await bucketKeys(f.bucket)).toEqual([`blocks/203.0.113.4/${f.naclId}/${other}.json`]);
  });

  it('unblocks an IPv6 /128 written differently from how it was blocked', async () => {
    const f = await fixture({ ipv6: true });
    const ours = await block(f, { ip: '2001:db8::7', port: 443 });

    const result = await unblockEgress(request({ ip: '2001:DB8:0:0:0:0:0:7', port: 443 }), f.deps);

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ ip: '2001:db8::7', blocks: [{ ruleNumber: ours, cidr: '2001:db8::7/128', outcome: 'removed' }] });
    expect((await egressEntries(f.naclId)).find((e) => e.RuleNumber === ours)).toBeUndefined();
    expect(await bucketKeys(f.bucket)).toEqual([]);
  });

  it('dry run lists what would be removed and changes nothing', async () => {
    const f = await fixture();
    const ours = await block(f, { ip: IP, port: 4444 });
    const gone = await block(f, { ip: IP, port: 25 });
    await aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: f.naclId, RuleNumber: gone, Egress: true }));
    const before = await egressEntries(f.naclId);
    const records = await bucketKeys(f.bucket);

    const result = await invokeAction(unblockEgressAction, { ip: IP }, { ...invokeOptions, dryRun: true }, f.deps);

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: unblock ${IP}: remove rule ${ours} of ${f.naclId}; rule ${gone} of ${f.naclId} was already gone (would forget its record)`);
    expect(result.details).toMatchObject({
      dryRun: true,
      rulesRemoved: 1,
      blocks: [
        { ruleNumber: ours, outcome: 'removed', recordRemoved: false },
        { ruleNumber: gone, outcome: 'already-gone', recordRemoved: false },
      ],
    });
    expect(await egressEntries(f.naclId)).toEqual(before);
    expect(await bucketKeys(f.bucket)).toEqual(records);
  });

  it('calls only the IAM actions it declares, and each of them', async () => {
    const f = await fixture();
    await block(f, { ip: IP, port: 4444 });
    const called = new Set<string>();
    const recording = createMotoClients();
    // IAM names: ListObjectsV2 is authorised as s3:ListBucket.
    const iamName = (context: { commandName?: string }) => String(context.commandName).replace(/Command$/, '').replace(/^ListObjectsV2$/, 'ListBucket');
    recording.ec2.middlewareStack.add(
      (next, context) => async (args) => {
        called.add(`ec2:${iamName(context)}`);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    recording.s3.middlewareStack.add(
      (next, context) => async (args) => {
        called.add(`s3:${iamName(context)}`);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    try {
      const result = await unblockEgress(request({ ip: IP }), { ...f.deps, aws: recording });
      expect(result.status).toBe('succeeded');
    } finally {
      destroyAwsClients(recording);
    }
    expect([...called].sort()).toEqual([...unblockEgressAction.permissions.iam].sort());
    // The cluster backends' policies (denyEgressCluster.test.ts): read and delete only.
    expect(unblockEgressAction.permissions.rbac.flatMap((r) => r.verbs)).toEqual(['get', 'delete', 'get', 'delete']);
  });

  it('refuses bad input through invokeAction', async () => {
    const f = await fixture();
    for (const input of [{ ip: 'not-an-ip' }, { ip: IP, port: 0 }, { ip: IP, naclId: f.naclId }, {}, { ip: IP, block: `${IP}/${f.naclId}/1` }, { block: `${IP}/${f.naclId}/1`, port: 4444 }]) {
      const result = await invokeAction(unblockEgressAction, input, invokeOptions, f.deps);
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(/^invalid input for unblock-egress: /);
    }
  });

  it('fails clearly without a bucket', async () => {
    const f = await fixture();
    const result = await invokeAction(unblockEgressAction, { ip: IP }, invokeOptions, { ...f.deps, settings: { ...f.deps.settings, evidenceBucket: undefined } });
    expect(result).toMatchObject({ status: 'failed', details: { error: 'Config' } });
    expect(result.summary).toMatch(/^SENTINEL_EVIDENCE_BUCKET is not set/);
  });

  it('lifts exactly one block by its id, leaving the other blocks of the same IP', async () => {
    const f = await fixture();
    const web = await block(f, { ip: IP, port: 443 });
    const shell = await block(f, { ip: IP, port: 4444 });
    const id = `${IP}/${f.naclId}/${shell}`;

    const dry = await unblockEgress(request({ block: id }, { dryRun: true }), f.deps);
    expect(dry.summary).toBe(`dry run: unblock block ${id} (${IP} tcp/4444): remove rule ${shell} of ${f.naclId}`);
    expect((await bucketKeys(f.bucket)).length).toBe(2);

    const result = await unblockEgress(request({ block: id }), f.deps);
    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`unblocked block ${id} (${IP} tcp/4444): removed rule ${shell} of ${f.naclId}`);
    expect(result.details).toMatchObject({ ip: IP, block: id, rulesRemoved: 1, blocks: [{ id, ruleNumber: shell, outcome: 'removed' }] });
    const left = await egressEntries(f.naclId);
    expect(left.map((e) => e.RuleNumber)).toContain(web);
    expect(left.map((e) => e.RuleNumber)).not.toContain(shell);
    expect(await bucketKeys(f.bucket)).toEqual([`blocks/${IP}/${f.naclId}/${web}.json`]);

    // Its record key works too, and a block that is gone is a clear skip.
    const again = await unblockEgress(request({ block: `blocks/${id}.json` }), f.deps);
    expect(again).toMatchObject({ status: 'skipped', summary: `no block by sentinel with id ${id}` });
  });
});
