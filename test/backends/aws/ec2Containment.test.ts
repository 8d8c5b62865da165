/**
 * The EC2 calls containment and evidence collection use: network ACL deny entries, an empty
 * quarantine security group swapped onto an ENI, tagged snapshots, StopInstances, tags.
 * Each test works in its own fresh VPC (moto is shared by parallel test files).
 */
import {
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateSecurityGroupCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteNetworkAclEntryCommand,
  DescribeInstancesCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  ReplaceNetworkAclAssociationCommand,
  ReplaceNetworkAclEntryCommand,
  RevokeSecurityGroupEgressCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  waitUntilInstanceStopped,
  waitUntilSnapshotCompleted,
  type Instance,
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { anyAmiId, captureError, createMotoClients, createVpcWithSubnet, uniqueName } from '../../support/aws.js';

let aws: AwsClients;

beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

async function naclEntries(networkAclId: string): Promise<NetworkAclEntry[]> {
  const out = await aws.ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [networkAclId] }));
  return out.NetworkAcls?.[0]?.Entries ?? [];
}

const summary = (e: NetworkAclEntry) => ({
  rule: e.RuleNumber,
  egress: e.Egress,
  action: e.RuleAction,
  protocol: e.Protocol,
  cidr: e.CidrBlock ?? e.Ipv6CidrBlock,
});

async function launchInstance(subnetId: string, securityGroupIds: string[] = []): Promise<Instance> {
  const out = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await anyAmiId(aws.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(securityGroupIds.length ? { SecurityGroupIds: securityGroupIds } : {}),
    }),
  );
  const instance = out.Instances?.[0];
  if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
  return instance;
}

async function eniGroupIds(networkInterfaceId: string): Promise<(string | undefined)[]> {
  const out = await aws.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] }));
  return (out.NetworkInterfaces?.[0]?.Groups ?? []).map((g) => g.GroupId);
}

async function enisInGroup(groupId: string): Promise<(string | undefined)[]> {
  const out = await aws.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId);
}

async function describeInstance(instanceId: string): Promise<Instance> {
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations![0]!.Instances![0]!;
}

describe('EC2 network ACLs on moto', () => {
  it('creates, replaces and deletes egress deny entries for IPv4 and IPv6 CIDRs', async () => {
    const { vpcId } = await createVpcWithSubnet(aws.ec2, { ipv6: true });
    const { NetworkAcl } = await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    const naclId = NetworkAcl!.NetworkAclId!;

    await aws.ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: naclId, RuleNumber: 100, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '203.0.113.7/32',
      }),
    );
    await aws.ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: naclId, RuleNumber: 101, Egress: true, Protocol: '-1', RuleAction: 'deny', Ipv6CidrBlock: '2001:db8:1234::/48',
      }),
    );
    // The same rule number in the other direction is a different entry.
    await aws.ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: naclId, RuleNumber: 100, Egress: false, Protocol: '6', RuleAction: 'deny', CidrBlock: '203.0.113.7/32',
        PortRange: { From: 22, To: 22 },
      }),
    );

    expect((await naclEntries(naclId)).map(summary)).toEqual(
      expect.arrayContaining([
        { rule: 100, egress: true, action: 'deny', protocol: '-1', cidr: '203.0.113.7/32' },
        { rule: 101, egress: true, action: 'deny', protocol: '-1', cidr: '2001:db8:1234::/48' },
        { rule: 100, egress: false, action: 'deny', protocol: '6', cidr: '203.0.113.7/32' },
      ]),
    );
    const ingress = (await naclEntries(naclId)).find((e) => e.Egress === false && e.RuleNumber === 100);
    expect(ingress?.PortRange).toEqual({ From: 22, To: 22 });

    // A second egress entry with a used rule number is refused.
    const dup = await captureError(() =>
      aws.ec2.send(
        new CreateNetworkAclEntryCommand({
          NetworkAclId: naclId, RuleNumber: 100, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '192.0.2.1/32',
        }),
      ),
    );
    expect(dup.name).toBe('NetworkAclEntryAlreadyExists');
    expect(dup.message).toBe('The network acl entry identified by 100 already exists.');

    await aws.ec2.send(
      new ReplaceNetworkAclEntryCommand({
        NetworkAclId: naclId, RuleNumber: 100, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '198.51.100.0/24',
      }),
    );
    await aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber: 101, Egress: true }));

    const egress = (await naclEntries(naclId)).filter((e) => e.Egress).map(summary);
    expect(egress).toEqual([{ rule: 100, egress: true, action: 'deny', protocol: '-1', cidr: '198.51.100.0/24' }]);
    // The ingress entry is untouched.
    expect((await naclEntries(naclId)).filter((e) => !e.Egress).map(summary)).toEqual([
      { rule: 100, egress: false, action: 'deny', protocol: '6', cidr: '203.0.113.7/32' },
    ]);
  });

  it('moves a subnet onto a network ACL with ReplaceNetworkAclAssociation', async () => {
    const { vpcId, subnetId } = await createVpcWithSubnet(aws.ec2);
    const { NetworkAcl } = await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    const current = await aws.ec2.send(
      new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }),
    );
    const association = current.NetworkAcls?.[0]?.Associations?.find((a) => a.SubnetId === subnetId);
    expect(current.NetworkAcls?.[0]?.IsDefault).toBe(true);
    expect(association?.NetworkAclAssociationId).toBeTruthy();

    const replaced = await aws.ec2.send(
      new ReplaceNetworkAclAssociationCommand({
        AssociationId: association!.NetworkAclAssociationId!,
        NetworkAclId: NetworkAcl!.NetworkAclId!,
      }),
    );
    expect(replaced.NewAssociationId).toBeTruthy();

    const after = await aws.ec2.send(
      new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }),
    );
    expect(after.NetworkAcls?.map((n) => n.NetworkAclId)).toEqual([NetworkAcl!.NetworkAclId]);
  });
});

describe('EC2 security groups on moto', () => {
  it('creates an empty security group by revoking its default egress rule', async () => {
    const { vpcId } = await createVpcWithSubnet(aws.ec2);
    const { GroupId } = await aws.ec2.send(
      new CreateSecurityGroupCommand({ GroupName: uniqueName('quarantine'), Description: 'sentinel quarantine', VpcId: vpcId }),
    );
    const created = (await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GroupId!] }))).SecurityGroups![0]!;
    expect(created.IpPermissions).toEqual([]);
    expect(created.IpPermissionsEgress).toEqual([
      expect.objectContaining({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }),
    ]);

    // Revoke exactly what describe returned (whatever default rules the group got).
    const revoked = await aws.ec2.send(
      new RevokeSecurityGroupEgressCommand({ GroupId: GroupId!, IpPermissions: created.IpPermissionsEgress! }),
    );
    expect(revoked.Return).toBe(true);

    const empty = (await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GroupId!] }))).SecurityGroups![0]!;
    expect(empty.IpPermissions).toEqual([]);
    expect(empty.IpPermissionsEgress).toEqual([]);

    // Revoking it again: the rule is gone.
    const again = await captureError(() =>
      aws.ec2.send(
        new RevokeSecurityGroupEgressCommand({
          GroupId: GroupId!,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      ),
    );
    expect(again.name).toBe('InvalidPermission.NotFound');
  });

  it('ModifyNetworkInterfaceAttribute Groups replaces the security groups of an ENI', async () => {
    const { vpcId, subnetId } = await createVpcWithSubnet(aws.ec2);
    const quarantine = await aws.ec2.send(
      new CreateSecurityGroupCommand({ GroupName: uniqueName('quarantine'), Description: 'quarantine', VpcId: vpcId }),
    );
    // Launched without SecurityGroupIds: the ENI starts in the VPC's default group.
    const instance = await launchInstance(subnetId);
    const eniId = instance.NetworkInterfaces?.[0]?.NetworkInterfaceId;
    expect(eniId).toMatch(/^eni-/);
    const before = await eniGroupIds(eniId!);
    expect(before).toHaveLength(1);
    expect(before).not.toContain(quarantine.GroupId);

    await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId!, Groups: [quarantine.GroupId!] }));

    expect(await eniGroupIds(eniId!)).toEqual([quarantine.GroupId]);
    const viaInstance = (await describeInstance(instance.InstanceId!)).NetworkInterfaces?.[0]?.Groups?.map((g) => g.GroupId);
    expect(viaInstance).toEqual([quarantine.GroupId]);
  });

  it('on an instance launched with groups, moto still lists the launch groups on the ENI after the swap', async () => {
    const { vpcId, subnetId } = await createVpcWithSubnet(aws.ec2);
    const app = await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('app'), Description: 'app', VpcId: vpcId }));
    const quarantine = await aws.ec2.send(
      new CreateSecurityGroupCommand({ GroupName: uniqueName('quarantine'), Description: 'quarantine', VpcId: vpcId }),
    );
    const instance = await launchInstance(subnetId, [app.GroupId!]);
    const eniId = instance.NetworkInterfaces![0]!.NetworkInterfaceId!;
    expect(await eniGroupIds(eniId)).toEqual([app.GroupId]);

    await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId, Groups: [quarantine.GroupId!] }));

    // GAP: AWS shows only the quarantine group. moto stores the replacement (the group-id filter
    // sees only it) but its describe output is the union with the instance's launch groups.
    const shown = await eniGroupIds(eniId);
    expect(shown).toHaveLength(2);
    expect(shown).toEqual(expect.arrayContaining([quarantine.GroupId, app.GroupId]));
    expect(await enisInGroup(quarantine.GroupId!)).toEqual([eniId]);
    expect(await enisInGroup(app.GroupId!)).toEqual([]);
    // DescribeInstances keeps the launch groups at instance level.
    expect((await describeInstance(instance.InstanceId!)).SecurityGroups?.map((g) => g.GroupId)).toEqual([app.GroupId]);
  });
});

describe('EC2 evidence and stop on moto', () => {
  it('snapshots an instance volume with tags from TagSpecifications', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const instance = await launchInstance(subnetId);
    const volumeId = instance.BlockDeviceMappings?.[0]?.Ebs?.VolumeId
      ?? (await describeInstance(instance.InstanceId!)).BlockDeviceMappings?.[0]?.Ebs?.VolumeId;
    expect(volumeId).toMatch(/^vol-/);
    const caseId = uniqueName('case');

    const snap = await aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId!,
        Description: `sentinel evidence ${caseId}`,
        TagSpecifications: [
          { ResourceType: 'snapshot', Tags: [{ Key: 'sentinel:case', Value: caseId }, { Key: 'sentinel:instance', Value: instance.InstanceId! }] },
        ],
      }),
    );
    expect(snap.SnapshotId).toMatch(/^snap-/);
    expect(snap.VolumeId).toBe(volumeId);
    await waitUntilSnapshotCompleted({ client: aws.ec2, maxWaitTime: 20, minDelay: 1 }, { SnapshotIds: [snap.SnapshotId!] });

    const found = await aws.ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:sentinel:case', Values: [caseId] }] }),
    );
    expect(found.Snapshots?.map((s) => s.SnapshotId)).toEqual([snap.SnapshotId]);
    expect(found.Snapshots?.[0]?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'sentinel:case', Value: caseId },
        { Key: 'sentinel:instance', Value: instance.InstanceId },
      ]),
    );
  });

  it('StopInstances stops a running instance', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const instance = await launchInstance(subnetId);

    const out = await aws.ec2.send(new StopInstancesCommand({ InstanceIds: [instance.InstanceId!] }));
    expect(out.StoppingInstances).toEqual([
      expect.objectContaining({
        InstanceId: instance.InstanceId,
        PreviousState: expect.objectContaining({ Name: 'running' }),
        CurrentState: expect.objectContaining({ Name: 'stopping' }),
      }),
    ]);
    const waited = await waitUntilInstanceStopped(
      { client: aws.ec2, maxWaitTime: 20, minDelay: 1 },
      { InstanceIds: [instance.InstanceId!] },
    );
    expect(waited.state).toBe('SUCCESS');
    expect((await describeInstance(instance.InstanceId!)).State?.Name).toBe('stopped');
  });

  it('CreateTags tags an instance; DescribeTags and tag filters find it', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const instance = await launchInstance(subnetId);
    const caseId = uniqueName('case');

    await aws.ec2.send(
      new CreateTagsCommand({
        Resources: [instance.InstanceId!],
        Tags: [{ Key: 'sentinel:quarantined', Value: 'true' }, { Key: 'sentinel:case', Value: caseId }],
      }),
    );

    const tags = await aws.ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [instance.InstanceId!] }] }),
    );
    expect(tags.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'sentinel:quarantined', Value: 'true', ResourceId: instance.InstanceId, ResourceType: 'instance' },
        { Key: 'sentinel:case', Value: caseId, ResourceId: instance.InstanceId, ResourceType: 'instance' },
      ]),
    );
    const byTag = await aws.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:sentinel:case', Values: [caseId] }] }),
    );
    expect(byTag.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([instance.InstanceId]);
  });
});
