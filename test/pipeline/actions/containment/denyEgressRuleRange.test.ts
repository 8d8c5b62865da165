/**
 * deny-egress / unblock-egress against AWS behaviour the emulator is missing, covered with
 * aws-sdk-client-mock (the rest is tested against moto in denyEgress.test.ts and
 * unblockEgress.test.ts). moto:
 * - accepts any network ACL rule number (AWS: 1..32766, InvalidParameterValue otherwise);
 * - never answers NetworkAclEntryLimitExceeded (AWS: 20 rules per direction and family by default);
 * - associates every subnet explicitly (so the "no association → VPC default ACL" path never runs);
 * - answers a missing network ACL with InvalidRouteTableID.NotFound (AWS: InvalidNetworkAclID.NotFound);
 * - answers DeleteNetworkAclEntry of a missing entry with a 500 (AWS: InvalidNetworkAclEntry.NotFound).
 *
 * The EC2 mock below is a small in-memory network ACL that enforces those AWS rules. Clients come
 * from the product's createAwsClients with no endpoint; aws-sdk-client-mock answers every command
 * of a mocked client, so nothing can reach AWS.
 */
import {
  CreateNetworkAclEntryCommand,
  DeleteNetworkAclEntryCommand,
  DescribeInstancesCommand,
  DescribeNetworkAclsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2ServiceException,
  type CreateNetworkAclEntryCommandInput,
  type DescribeNetworkAclsCommandInput,
  type NetworkAcl,
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { DENY_EGRESS_MAX_ATTEMPTS, denyEgressAction } from '../../../../src/pipeline/actions/containment/denyEgress.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { unblockEgressAction } from '../../../../src/pipeline/actions/containment/unblockEgress.js';
import { blockKey, type BlockRecord } from '../../../../src/pipeline/blocks/blockRegistry.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';

const clients = createAwsClients({ region: 'ap-northeast-2', credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
const ec2 = mockClient(clients.ec2);
const s3 = mockClient(clients.s3);
afterEach(() => {
  ec2.reset();
  s3.reset();
});
afterAll(() => destroyAwsClients(clients));

const NACL_ID = 'acl-0123456789abcdef0';
const DEFAULT_NACL_ID = 'acl-0fedcba987654321f';
const VPC_ID = 'vpc-0123456789abcdef0';
const SUBNET_ID = 'subnet-0123456789abcdef0';
const BUCKET = 'sentinel-evidence-unit';
const IP = '203.0.113.45';
const options = { actor: 'discord:123456789012345678', incidentId: 'inc-mock-1' };

function deps(settings: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws: clients,
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: BUCKET, ...settings },
    logger: createSilentLogger(),
    now: () => new Date('2031-01-01T00:00:00Z'),
  };
}

function awsError(name: string, message: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}

const defaultEntries = (): NetworkAclEntry[] => [
  { RuleNumber: 100, Egress: true, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' },
  { RuleNumber: 32767, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '0.0.0.0/0' },
  { RuleNumber: 100, Egress: false, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' },
  { RuleNumber: 32767, Egress: false, Protocol: '-1', RuleAction: 'deny', CidrBlock: '0.0.0.0/0' },
];

/** One network ACL in memory, with AWS's validation of CreateNetworkAclEntry. */
function fakeNacl(entries: NetworkAclEntry[], opts: { quota?: number; associated?: boolean } = {}) {
  const quota = opts.quota ?? 20;
  const acl = (): NetworkAcl => ({
    NetworkAclId: NACL_ID,
    VpcId: VPC_ID,
    IsDefault: false,
    Associations: opts.associated === false ? [] : [{ NetworkAclId: NACL_ID, SubnetId: SUBNET_ID }],
    Entries: entries.map((e) => ({ ...e })),
  });
  ec2.on(DescribeNetworkAclsCommand).callsFake((input: DescribeNetworkAclsCommandInput) => {
    if (input.NetworkAclIds && !input.NetworkAclIds.includes(NACL_ID)) {
      throw awsError('InvalidNetworkAclID.NotFound', `The networkAcl ID '${input.NetworkAclIds[0]}' does not exist`);
    }
    return { NetworkAcls: [acl()] };
  });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: VPC_ID, CidrBlock: '10.0.0.0/16', CidrBlockAssociationSet: [{ CidrBlock: '10.0.0.0/16', CidrBlockState: { State: 'associated' } }] }] });
  ec2.on(CreateNetworkAclEntryCommand).callsFake((input: CreateNetworkAclEntryCommandInput) => {
    const n = input.RuleNumber ?? 0;
    if (n < 1 || n > 32766) throw awsError('InvalidParameterValue', `Invalid value '${n}' for ruleNumber. Value must be between 1 and 32766.`);
    if (entries.some((e) => e.Egress === input.Egress && e.RuleNumber === n)) {
      throw awsError('NetworkAclEntryAlreadyExists', `The network acl entry identified by ${n} already exists.`);
    }
    const ipv6 = input.Ipv6CidrBlock !== undefined;
    const sameKind = entries.filter((e) => e.Egress === input.Egress && (e.RuleNumber ?? 0) <= 32766 && (ipv6 ? e.Ipv6CidrBlock : e.CidrBlock));
    if (sameKind.length >= quota) throw awsError('NetworkAclEntryLimitExceeded', `The maximum number of network acl entries has been reached.`);
    entries.push({
      RuleNumber: n,
      Egress: input.Egress,
      Protocol: input.Protocol,
      RuleAction: input.RuleAction,
      ...(input.CidrBlock ? { CidrBlock: input.CidrBlock } : {}),
      ...(input.Ipv6CidrBlock ? { Ipv6CidrBlock: input.Ipv6CidrBlock } : {}),
      ...(input.PortRange ? { PortRange: input.PortRange } : {}),
    });
    return {};
  });
  ec2.on(DeleteNetworkAclEntryCommand).callsFake((input: { RuleNumber?: number; Egress?: boolean }) => {
    const i = entries.findIndex((e) => e.Egress === input.Egress && e.RuleNumber === input.RuleNumber);
    if (i < 0) throw awsError('InvalidNetworkAclEntry.NotFound', `The network ACL entry identified by ${input.RuleNumber} does not exist.`);
    entries.splice(i, 1);
    return {};
  });
  return entries;
}

const denies = (numbers: number[]): NetworkAclEntry[] =>
  numbers.map((n) => ({ RuleNumber: n, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `198.51.100.${n % 250}/32`, PortRange: { From: 22, To: 22 } }));

const createdNumbers = () => ec2.commandCalls(CreateNetworkAclEntryCommand).map((c) => c.args[0].input.RuleNumber);

describe('deny-egress: AWS rule-number range and quota (mocked: moto has neither)', () => {
  it('turns AWS NetworkAclEntryLimitExceeded into a clear NaclFull failure when the configured limit is above the real quota', async () => {
    // SENTINEL_NACL_MAX_RULES says 40 but the account still has AWS's default 20.
    fakeNacl([...defaultEntries(), ...denies([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19])], { quota: 20 });
    s3.on(PutObjectCommand).resolves({});

    const result = await invokeAction(denyEgressAction, { ip: IP, port: 4444, naclId: NACL_ID }, options, deps({ naclMaxRules: 40 }));

    expect(result).toEqual({
      status: 'failed',
      summary: `the network ACL ${NACL_ID} is full: AWS refused another egress rule (The maximum number of network acl entries has been reached.); remove a rule or raise the quota (SENTINEL_NACL_MAX_RULES is 40)`,
      details: { error: 'NaclFull', final: true },
    });
    expect(createdNumbers()).toEqual([20]);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    ['the default allow-all at 100', [...defaultEntries(), ...denies([1, 2, 4])], 3],
    ['no egress allow at all (only AWS\'s "*" deny at 32767)', [{ RuleNumber: 32767, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '0.0.0.0/0' }, ...denies([1, 2, 3])], 4],
    ['an allow at the highest number AWS accepts (32766)', [{ RuleNumber: 32766, Egress: true, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' }, ...denies([1])], 2],
  ] as const)('sends only a rule number AWS accepts with %s', async (_what, entries, expected) => {
    fakeNacl([...entries]);
    s3.on(PutObjectCommand).resolves({});

    const result = await invokeAction(denyEgressAction, { ip: IP, naclId: NACL_ID }, options, deps());

    expect(result).toMatchObject({ status: 'succeeded', details: { ruleNumber: expected } });
    expect(createdNumbers()).toEqual([expected]);
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: BUCKET,
      Key: `blocks/${IP}/${NACL_ID}/${expected}.json`,
      IfNoneMatch: '*',
    });
  });

  it('sends nothing when no number is free below the first egress allow (it would be 0 or behind the allow)', async () => {
    fakeNacl([{ RuleNumber: 1, Egress: true, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' }]);

    const result = await invokeAction(denyEgressAction, { ip: IP, naclId: NACL_ID }, options, deps());

    expect(result).toMatchObject({ status: 'failed', details: { error: 'NaclNoRoom', final: true } });
    expect(result.summary).toBe('no free rule number below the first egress allow rule (1); a deny placed after it would never match');
    expect(createdNumbers()).toEqual([]);
  });

  it('reports an AWS validation error as a failure without retrying it as a race or recording anything', async () => {
    fakeNacl(defaultEntries());
    ec2.on(CreateNetworkAclEntryCommand).rejects(awsError('InvalidParameterValue', "Invalid value '1' for ruleNumber. Value must be between 1 and 32766."));

    const result = await invokeAction(denyEgressAction, { ip: IP, naclId: NACL_ID }, options, deps());

    expect(result).toMatchObject({ status: 'failed', details: { error: 'Aws', final: false } });
    expect(result.summary).toBe(`cannot create deny rule 1 in ${NACL_ID}: Invalid value '1' for ruleNumber. Value must be between 1 and 32766.`);
    expect(ec2.commandCalls(CreateNetworkAclEntryCommand)).toHaveLength(1);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it(`gives up after ${DENY_EGRESS_MAX_ATTEMPTS} lost races for the rule number`, async () => {
    fakeNacl(defaultEntries());
    ec2.on(CreateNetworkAclEntryCommand).rejects(awsError('NetworkAclEntryAlreadyExists', 'The network acl entry identified by 1 already exists.'));

    const result = await invokeAction(denyEgressAction, { ip: IP, naclId: NACL_ID }, options, deps());

    expect(result).toMatchObject({ status: 'failed', details: { error: 'NaclRuleRace', final: true } });
    expect(result.summary).toMatch(new RegExp(`taken by another writer ${DENY_EGRESS_MAX_ATTEMPTS} times in a row; try again$`));
    expect(ec2.commandCalls(CreateNetworkAclEntryCommand)).toHaveLength(DENY_EGRESS_MAX_ATTEMPTS);
    // One read to find the ACL, one re-read after each lost race but the last.
    expect(ec2.commandCalls(DescribeNetworkAclsCommand)).toHaveLength(DENY_EGRESS_MAX_ATTEMPTS);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('says when the rule it created could not be taken out again after the record failed', async () => {
    const entries = fakeNacl(defaultEntries());
    ec2.on(DeleteNetworkAclEntryCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    s3.on(PutObjectCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }));

    const result = await invokeAction(denyEgressAction, { ip: IP, naclId: NACL_ID }, options, deps());

    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/^could not record the block \(cannot store block record at s3:\/\/.+: Access Denied\) and could not take rule 1 out of acl-0123456789abcdef0 again \(removing it failed: .*not authorized.*\): check that rule by hand$/);
    expect(entries.find((e) => e.Egress && e.RuleNumber === 1)).toMatchObject({ RuleAction: 'deny', CidrBlock: `${IP}/32` });
  });
});

describe('deny-egress: lookups where moto differs from AWS (mocked)', () => {
  it("uses the VPC's default network ACL for a subnet without an explicit association", async () => {
    ec2.on(DescribeNetworkAclsCommand, { Filters: [{ Name: 'association.subnet-id', Values: [SUBNET_ID] }] }).resolves({ NetworkAcls: [] });
    ec2.on(DescribeSubnetsCommand, { SubnetIds: [SUBNET_ID] }).resolves({ Subnets: [{ SubnetId: SUBNET_ID, VpcId: VPC_ID }] });
    ec2
      .on(DescribeNetworkAclsCommand, { Filters: [{ Name: 'vpc-id', Values: [VPC_ID] }, { Name: 'default', Values: ['true'] }] })
      .resolves({ NetworkAcls: [{ NetworkAclId: DEFAULT_NACL_ID, VpcId: VPC_ID, IsDefault: true, Associations: [], Entries: defaultEntries() }] });
    ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: VPC_ID, CidrBlock: '10.0.0.0/16' }] });

    const result = await invokeAction(denyEgressAction, { ip: IP, subnetId: SUBNET_ID }, { ...options, dryRun: true }, deps());

    expect(result).toMatchObject({ status: 'skipped', details: { dryRun: true, naclId: DEFAULT_NACL_ID, ruleNumber: 1, firstAllow: 100 } });
    expect(ec2.commandCalls(CreateNetworkAclEntryCommand)).toHaveLength(0);
  });

  it("maps AWS's InvalidNetworkAclID.NotFound and InvalidInstanceID.Malformed to NotFound and Validation", async () => {
    fakeNacl(defaultEntries());
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.Malformed', 'Invalid id: "i-00000000"'));

    const missing = await invokeAction(denyEgressAction, { ip: IP, naclId: 'acl-0000000000000dead' }, options, deps());
    expect(missing).toMatchObject({ status: 'failed', details: { error: 'NotFound', final: true } });
    expect(missing.summary).toBe('network ACL acl-0000000000000dead: not found (InvalidNetworkAclID.NotFound)');

    const malformed = await invokeAction(denyEgressAction, { ip: IP, instanceId: 'i-00000000' }, options, deps());
    expect(malformed).toMatchObject({ status: 'failed', details: { error: 'Validation', final: true } });
  });
});

describe('unblock-egress: AWS answers moto does not give (mocked)', () => {
  const record: BlockRecord = {
    version: 1,
    kind: 'nacl-egress-deny',
    ip: IP,
    cidr: `${IP}/32`,
    ipv6: false,
    port: 4444,
    protocol: '6',
    portRange: { from: 4444, to: 4444 },
    naclId: NACL_ID,
    ruleNumber: 1,
    vpcId: VPC_ID,
    actor: options.actor,
    reason: null,
    incidentId: options.incidentId,
    createdAt: '2031-01-01T00:00:00.000Z',
    expiresAt: null,
    severity: null,
  };
  const key = blockKey(record);

  function registryHolds(records: BlockRecord[]) {
    s3.on(ListObjectsV2Command).resolves({ Contents: records.map((r) => ({ Key: blockKey(r) })), IsTruncated: false });
    for (const r of records) {
      s3.on(GetObjectCommand, { Bucket: BUCKET, Key: blockKey(r) }).resolves({ Body: { transformToString: async () => JSON.stringify(r) } } as never);
    }
    s3.on(DeleteObjectCommand).resolves({});
  }

  it('treats InvalidNetworkAclEntry.NotFound on delete (removed between read and delete) as already gone', async () => {
    fakeNacl([...defaultEntries(), { RuleNumber: 1, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 } }]);
    ec2.on(DeleteNetworkAclEntryCommand).rejects(awsError('InvalidNetworkAclEntry.NotFound', 'The network ACL entry identified by 1 does not exist.'));
    registryHolds([record]);

    const result = await invokeAction(unblockEgressAction, { ip: IP }, options, deps());

    expect(result).toMatchObject({ status: 'succeeded', details: { blocks: [{ outcome: 'already-gone', recordRemoved: true }] } });
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: BUCKET, Key: key }]);
  });

  it("forgets a record whose network ACL no longer exists (AWS's InvalidNetworkAclID.NotFound)", async () => {
    ec2.on(DescribeNetworkAclsCommand).rejects(awsError('InvalidNetworkAclID.NotFound', `The networkAcl ID '${NACL_ID}' does not exist`));
    registryHolds([record]);

    const result = await invokeAction(unblockEgressAction, { ip: IP, port: 4444 }, options, deps());

    expect(result).toMatchObject({ status: 'succeeded', details: { blocks: [{ outcome: 'nacl-gone', recordRemoved: true }] } });
    expect(result.summary).toBe(`unblocked ${IP} tcp/4444: ${NACL_ID} no longer exists (forgot the record of rule 1)`);
    expect(ec2.commandCalls(DeleteNetworkAclEntryCommand)).toHaveLength(0);
  });

  it('keeps the record and fails when the delete is refused, still reporting the blocks it did remove', async () => {
    const second: BlockRecord = { ...record, ruleNumber: 2, port: 25, portRange: { from: 25, to: 25 } };
    fakeNacl([
      ...defaultEntries(),
      { RuleNumber: 1, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 4444, To: 4444 } },
      { RuleNumber: 2, Egress: true, Protocol: '6', RuleAction: 'deny', CidrBlock: `${IP}/32`, PortRange: { From: 25, To: 25 } },
    ]);
    ec2.on(DeleteNetworkAclEntryCommand, { RuleNumber: 2 }).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    registryHolds([record, second]);

    const result = await invokeAction(unblockEgressAction, { ip: IP }, options, deps());

    expect(result).toMatchObject({ status: 'failed', details: { error: 'Aws', final: false } });
    expect(result.summary).toBe(
      `unblocking ${IP} failed for rule 2 of ${NACL_ID}: cannot delete rule 2 from ${NACL_ID}: You are not authorized to perform this operation.; done: removed rule 1 of ${NACL_ID}`,
    );
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key)).toEqual([key]);
  });
});
