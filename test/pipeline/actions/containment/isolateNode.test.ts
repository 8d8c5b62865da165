/**
 * isolate-node against moto (EC2, Auto Scaling, S3) through the real SDK, and fakeKube for node
 * names. Every test builds its own VPC (random CIDR), security groups, launch template and
 * one-instance Auto Scaling group; one evidence bucket per file.
 *
 * moto notes: instances are launched without launch-time security groups (their ENIs start in the
 * VPC's default group and the tests move them onto app groups), because moto lists launch-time
 * groups on an ENI even after ModifyNetworkInterfaceAttribute replaced them (see
 * test/backends/aws/ec2Containment.test.ts).
 */
import { randomInt } from 'node:crypto';
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import {
  AttachNetworkInterfaceCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type Instance,
  type SecurityGroup,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { isolateNode, isolateNodeAction, type IsolateNodeDetails } from '../../../../src/pipeline/actions/containment/isolateNode.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { anyAmiId, captureError, createMotoClients, MOTO_ACCOUNT_ID, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { checkWithTemplatePolicy } from '../../../support/cloudformation/policySimulator.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

let aws: AwsClients;
let fake: FakeKube;
let bucket: string;

beforeAll(async () => {
  aws = createMotoClients();
  fake = await startFakeKube();
  bucket = uniqueName('isolations');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(async () => {
  destroyAwsClients(aws);
  await fake.close();
});

const AZ = `${MOTO_REGION}a`;
const ACTOR = 'discord:123456789012345678';

function deps(settings: Partial<PipelineSettings> = {}, withKube = false): ActionDeps {
  return {
    aws,
    ...(withKube ? { kube: createKubeClients(fake.kubeConfig()) } : {}),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...settings },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

interface Target {
  vpcId: string;
  subnetId: string;
  appA: string;
  appB: string;
  instanceId: string;
  groupName: string | null;
  primaryEni: string;
  secondEni: string | null;
  volumes: string[];
}

async function describeInstance(instanceId: string): Promise<Instance> {
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations![0]!.Instances![0]!;
}

/** Groups per ENI, as DescribeInstances reports them. */
async function eniGroups(instanceId: string): Promise<Record<string, string[]>> {
  const instance = await describeInstance(instanceId);
  return Object.fromEntries((instance.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!).sort()]));
}

/**
 * A fresh VPC with two app groups and one instance whose primary ENI is on both groups and whose
 * second ENI (device 1) is on appB. In a one-instance Auto Scaling group by default.
 */
async function target(opts: { asg?: boolean; secondEni?: boolean; tags?: Record<string, string>; asgTags?: Record<string, string> } = {}): Promise<Target> {
  const a = randomInt(1, 255);
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: `10.${a}.0.0/16` }));
  const vpcId = Vpc!.VpcId!;
  const { Subnet } = await aws.ec2.send(
    new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.${a}.${randomInt(0, 256)}.0/24`, AvailabilityZone: AZ }),
  );
  const subnetId = Subnet!.SubnetId!;
  const appA = (await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('app-a'), Description: 'app a', VpcId: vpcId }))).GroupId!;
  const appB = (await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('app-b'), Description: 'app b', VpcId: vpcId }))).GroupId!;
  const imageId = await anyAmiId(aws.ec2);

  let instanceId: string;
  let groupName: string | null = null;
  if (opts.asg ?? true) {
    const { LaunchTemplate } = await aws.ec2.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: uniqueName('lt'), LaunchTemplateData: { ImageId: imageId, InstanceType: 't3.micro' } }),
    );
    groupName = uniqueName('asg');
    await aws.autoScaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: groupName,
        LaunchTemplate: { LaunchTemplateId: LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
        MinSize: 1,
        MaxSize: 3,
        DesiredCapacity: 1,
        VPCZoneIdentifier: subnetId,
        ...(opts.asgTags ? { Tags: Object.entries(opts.asgTags).map(([Key, Value]) => ({ Key, Value, PropagateAtLaunch: false })) } : {}),
      }),
    );
    const group = (await aws.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }))).AutoScalingGroups![0]!;
    instanceId = group.Instances![0]!.InstanceId!;
  } else {
    const out = await aws.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId }));
    instanceId = out.Instances![0]!.InstanceId!;
  }

  const instance = await describeInstance(instanceId);
  const primaryEni = instance.NetworkInterfaces![0]!.NetworkInterfaceId!;
  await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: primaryEni, Groups: [appA, appB] }));
  let secondEni: string | null = null;
  if (opts.secondEni ?? true) {
    const { NetworkInterface } = await aws.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId, Groups: [appB] }));
    secondEni = NetworkInterface!.NetworkInterfaceId!;
    await aws.ec2.send(new AttachNetworkInterfaceCommand({ NetworkInterfaceId: secondEni, InstanceId: instanceId, DeviceIndex: 1 }));
  }
  if (opts.tags) {
    await aws.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: Object.entries(opts.tags).map(([Key, Value]) => ({ Key, Value })) }));
  }
  const volumes = (instance.BlockDeviceMappings ?? []).map((m) => m.Ebs!.VolumeId!);
  expect(volumes.length).toBeGreaterThan(0);
  const expectedGroups: Record<string, string[]> = { [primaryEni]: [appA, appB].sort() };
  if (secondEni) expectedGroups[secondEni] = [appB];
  expect(await eniGroups(instanceId)).toEqual(expectedGroups);
  return { vpcId, subnetId, appA, appB, instanceId, groupName, primaryEni, secondEni, volumes };
}

async function isolationGroups(vpcId: string): Promise<SecurityGroup[]> {
  const out = await aws.ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'tag:sentinel:isolation', Values: ['true'] }] }),
  );
  return out.SecurityGroups ?? [];
}

async function snapshotsOf(instanceId: string): Promise<Snapshot[]> {
  const out = await aws.ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:sentinel:instance', Values: [instanceId] }] }));
  return out.Snapshots ?? [];
}

async function lifecycle(instanceId: string): Promise<string | undefined> {
  const out = await aws.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return out.AutoScalingInstances?.[0]?.LifecycleState;
}

async function readRecord(instanceId: string): Promise<{ text: string; json: Record<string, unknown> } | undefined> {
  try {
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: `isolations/${instanceId}.json` }));
    const text = await out.Body!.transformToString();
    return { text, json: JSON.parse(text) as Record<string, unknown> };
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** moto clients that record every call as the IAM action it needs (`ec2:CreateSnapshot`…). */
function recordingClients(): { clients: AwsClients; calls: Set<string> } {
  const clients = createMotoClients();
  const calls = new Set<string>();
  const record = (prefix: string) => (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
    calls.add(`${prefix}:${(context.commandName ?? '?').replace(/Command$/, '')}`);
    return next(args);
  };
  clients.ec2.middlewareStack.add(record('ec2') as never, { step: 'initialize', name: 'recordCalls' });
  clients.autoScaling.middlewareStack.add(record('autoscaling') as never, { step: 'initialize', name: 'recordCalls' });
  clients.s3.middlewareStack.add(record('s3') as never, { step: 'initialize', name: 'recordCalls' });
  return { clients, calls };
}

const tagsOf = (instance: Instance) => Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));

/** Everything an isolation could have changed, to compare before and after a run that must change nothing. */
async function observable(t: Target) {
  const instance = await describeInstance(t.instanceId);
  return {
    groups: await eniGroups(t.instanceId),
    tags: tagsOf(instance),
    state: instance.State?.Name,
    lifecycle: t.groupName ? await lifecycle(t.instanceId) : null,
    snapshots: (await snapshotsOf(t.instanceId)).length,
    isolationGroups: (await isolationGroups(t.vpcId)).length,
    record: await readRecord(t.instanceId),
  };
}

describe('isolate-node', () => {
  it('snapshots, enters standby, saves the prior state, moves every ENI onto an empty isolation group and tags the instance', async () => {
    const t = await target();
    const incidentId = uniqueName('inc');

    const result = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId, reason: 'falco: shell in container' }, deps());

    expect(result.status).toBe('succeeded');
    const details = result.details as IsolateNodeDetails;
    const [group] = await isolationGroups(t.vpcId);
    expect(group).toBeDefined();
    const sg = group!.GroupId!;
    expect(result.summary).toBe(
      `isolated instance ${t.instanceId}: ${t.volumes.length} snapshot(s) taken, moved to standby in ${t.groupName}, 2 network interface(s) on ${sg} (created)`,
    );

    // The isolation group: tagged, in the VPC, no rules at all.
    expect(group!.VpcId).toBe(t.vpcId);
    expect(group!.GroupName).toBe(`sentinel-isolation-${t.vpcId}`);
    expect(group!.IpPermissions).toEqual([]);
    expect(group!.IpPermissionsEgress).toEqual([]);
    expect(details.isolationGroup).toEqual({ groupId: sg, name: `sentinel-isolation-${t.vpcId}`, source: 'created' });

    // (a) one snapshot per attached volume, tagged with the incident, volume and instance.
    const snaps = await snapshotsOf(t.instanceId);
    expect(snaps.map((s) => s.VolumeId).sort()).toEqual([...t.volumes].sort());
    for (const s of snaps) {
      expect(s.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'sentinel:incident', Value: incidentId },
          { Key: 'sentinel:volume', Value: s.VolumeId },
          { Key: 'sentinel:instance', Value: t.instanceId },
        ]),
      );
    }
    expect(details.snapshots.map((s) => s.snapshotId).sort()).toEqual(snaps.map((s) => s.SnapshotId).sort());
    expect(details.snapshots.every((s) => !s.reused)).toBe(true);

    // (b) standby without shrinking the group.
    expect(await lifecycle(t.instanceId)).toBe('Standby');
    const asg = (await aws.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [t.groupName!] }))).AutoScalingGroups![0]!;
    expect(asg.DesiredCapacity).toBe(1);
    expect(details.asg).toEqual({ groupName: t.groupName, lifecycleStateBefore: 'InService', standby: 'entered' });

    // (d) every ENI only on the isolation group.
    expect(await eniGroups(t.instanceId)).toEqual({ [t.primaryEni]: [sg], [t.secondEni!]: [sg] });
    expect(details.securityGroups).toEqual([
      { networkInterfaceId: t.primaryEni, before: expect.arrayContaining([t.appA, t.appB]), after: [sg] },
      { networkInterfaceId: t.secondEni, before: [t.appB], after: [sg] },
    ]);

    // (e) not stopped (not configured), (f) tagged.
    const instance = await describeInstance(t.instanceId);
    expect(instance.State?.Name).toBe('running');
    expect(details.stopped).toBe(false);
    expect(details.destroysMemory).toBe(false);
    expect(tagsOf(instance)).toMatchObject({ 'sentinel:isolated': 'true', 'sentinel:incident': incidentId });

    // (c) the prior state, exactly.
    const record = await readRecord(t.instanceId);
    expect(details.record).toEqual({ location: `s3://${bucket}/isolations/${t.instanceId}.json`, state: 'created' });
    const json = record!.json as { prior: { networkInterfaces: { groups: string[] }[] } };
    json.prior.networkInterfaces.forEach((n) => n.groups.sort());
    expect(json).toEqual({
      version: 1,
      instanceId: t.instanceId,
      vpcId: t.vpcId,
      isolationGroupId: sg,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      requests: [{ incidentId, actor: ACTOR, reason: 'falco: shell in container', at: expect.any(String) }],
      prior: {
        instanceState: 'running',
        networkInterfaces: [
          { networkInterfaceId: t.primaryEni, deviceIndex: 0, groups: [t.appA, t.appB].sort() },
          { networkInterfaceId: t.secondEni, deviceIndex: 1, groups: [t.appB] },
        ],
        autoScaling: { groupName: t.groupName, lifecycleState: 'InService' },
      },
      sentinel: {
        enteredStandby: true,
        stopped: false,
        snapshots: expect.arrayContaining(snaps.map((s) => ({ volumeId: s.VolumeId, deviceName: expect.any(String), snapshotId: s.SnapshotId }))),
      },
    });
  });

  it('is idempotent: a rerun is skipped as already isolated and takes no new snapshots', async () => {
    const t = await target();
    const incidentId = uniqueName('inc');
    const first = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId }, deps());
    expect(first.status).toBe('succeeded');
    const after = await observable(t);

    const again = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId }, deps());

    expect(again.status).toBe('skipped');
    expect(again.summary).toBe(`instance ${t.instanceId} is already isolated (security group ${first.details.isolationGroup.groupId})`);
    expect(await observable(t)).toEqual(after);
    expect(after.snapshots).toBe(t.volumes.length);
    const dry = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId, dryRun: true }, deps());
    expect(dry.status).toBe('skipped');
    expect(dry.summary).toBe(`dry run: ${again.summary}; nothing to do`);
    expect(dry.details).toMatchObject({ dryRun: true, record: { state: 'exists' } });
    // Another incident asking again changes nothing either.
    const other = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    expect(other.status).toBe('skipped');
    expect(await observable(t)).toEqual(after);
  });

  it('reuses the per-VPC isolation group for a second instance', async () => {
    const t = await target({ secondEni: false });
    const first = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    const out = await aws.ec2.send(new RunInstancesCommand({ ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: t.subnetId }));
    const secondId = out.Instances![0]!.InstanceId!;

    const second = await isolateNode({ input: { node: secondId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());

    expect(second.status).toBe('succeeded');
    expect(second.details.isolationGroup).toEqual({ ...first.details.isolationGroup, source: 'existing' });
    expect(await isolationGroups(t.vpcId)).toHaveLength(1);
    expect(Object.values(await eniGroups(secondId))).toEqual([[first.details.isolationGroup.groupId]]);
    expect(second.details.asg).toBeNull();
  });

  it('empties an existing isolation group that gained rules before using it', async () => {
    const t = await target({ secondEni: false, asg: false });
    const name = `sentinel-isolation-${t.vpcId}`;
    const { GroupId } = await aws.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: 'pre-existing',
        VpcId: t.vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'sentinel:isolation', Value: 'true' }] }],
      }),
    );
    // It still has the default egress rule (a run that died before revoking it), and someone
    // opened SSH on it.
    await aws.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }),
    );
    const result = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.isolationGroup).toEqual({ groupId: GroupId, name, source: 'existing' });
    expect(result.details.notes).toEqual([
      `revoked 1 egress rule(s) found on isolation group ${GroupId}`,
      `revoked 1 ingress rule(s) found on isolation group ${GroupId}`,
    ]);
    const [group] = await isolationGroups(t.vpcId);
    expect(group!.IpPermissionsEgress).toEqual([]);
    expect(group!.IpPermissions).toEqual([]);
  });

  it('uses the configured isolation group and creates none', async () => {
    const t = await target({ secondEni: false });
    const { GroupId } = await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('forensics'), Description: 'forensics', VpcId: t.vpcId }));

    const result = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps({ isolationSecurityGroupId: GroupId! }));

    expect(result.status).toBe('succeeded');
    expect(result.details.isolationGroup).toEqual({ groupId: GroupId, name: expect.stringMatching(/^forensics-/), source: 'configured' });
    expect(await eniGroups(t.instanceId)).toEqual({ [t.primaryEni]: [GroupId] });
    expect(await isolationGroups(t.vpcId)).toEqual([]);
    // The configured group keeps its default egress rule: sentinel says so rather than changing it.
    expect(result.details.notes).toContain(`the configured isolation group ${GroupId} has 1 rule(s); traffic they allow still flows`);
  });

  it('dry run: returns the plan and changes nothing (no snapshot, no group, no standby, no record, no tag)', async () => {
    const t = await target();
    const before = await observable(t);
    const incidentId = uniqueName('inc');

    const result = await invokeAction(isolateNodeAction, { node: t.instanceId, stopInstance: true }, { actor: ACTOR, incidentId, dryRun: true }, deps());

    expect(result.status).toBe('skipped');
    const name = `sentinel-isolation-${t.vpcId}`;
    expect(result.summary).toBe(
      `dry run: would isolate instance ${t.instanceId}: snapshot ${t.volumes.length} volume(s), move it to standby in ${t.groupName}, put 2 network interface(s) on ${name} (would create), stop it (memory is lost)`,
    );
    expect(result.details).toMatchObject({
      dryRun: true,
      instanceId: t.instanceId,
      isolationGroup: { groupId: null, name, source: 'would create' },
      asg: { groupName: t.groupName, lifecycleStateBefore: 'InService', standby: 'would enter' },
      stopRequested: true,
      stopped: true,
      destroysMemory: true,
      record: { location: `s3://${bucket}/isolations/${t.instanceId}.json`, state: 'would create' },
    });
    expect((result.details as IsolateNodeDetails).snapshots.map((s) => [s.volumeId, s.snapshotId])).toEqual(t.volumes.map((v) => [v, null]));
    expect(await observable(t)).toEqual(before);
    expect(before.isolationGroups).toBe(0);
    expect(before.record).toBeUndefined();
  });

  it('refuses an instance carrying the protected tag (any value) before any change', async () => {
    for (const value of ['true', 'false', '']) {
      const t = await target({ tags: { 'sentinel:protected': value } });
      const before = await observable(t);

      const result = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId: uniqueName('inc') }, deps());

      expect(result).toEqual({
        status: 'failed',
        summary: `instance ${t.instanceId} is protected (tag sentinel:protected=${value}); sentinel never isolates it`,
        details: { error: 'ProtectedTarget', final: true },
      });
      expect(await observable(t)).toEqual(before);
      expect(before.isolationGroups).toBe(0);
    }
  });

  it('honours a custom protected tag key', async () => {
    const t = await target({ secondEni: false, asg: false, tags: { 'corp:do-not-touch': 'yes' } });
    const before = await observable(t);
    const result = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId: uniqueName('inc') }, deps({ protectedTag: 'corp:do-not-touch' }));
    expect(result.status).toBe('failed');
    expect((result.details as { error: string }).error).toBe('ProtectedTarget');
    expect(await observable(t)).toEqual(before);
  });

  it('fails NotFound for an unknown node', async () => {
    const name = uniqueName('ghost');
    const result = await invokeAction(isolateNodeAction, { node: name }, { actor: ACTOR, incidentId: uniqueName('inc') }, deps({}, true));
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'NotFound', final: true });
    expect(result.summary).toContain(`no EC2 instance found for node "${name}"`);
  });

  it('fails InvalidInput for a reference that is not a node, and for unknown fields', async () => {
    for (const input of [{ node: 'rm -rf /' }, { node: 'i-0123456789abcdef0', extra: true }, { node: 'ok', stopInstance: 'yes' }]) {
      const result = await invokeAction(isolateNodeAction, input, { actor: ACTOR, incidentId: 'inc-1' }, deps());
      expect(result.status).toBe('failed');
      expect(result.details).toEqual({ error: 'InvalidInput', final: true });
    }
  });

  it('fails with a ConfigError and changes nothing when no evidence bucket is configured', async () => {
    const t = await target({ secondEni: false, asg: false });
    const before = await observable(t);
    const result = await invokeAction(isolateNodeAction, { node: t.instanceId }, { actor: ACTOR, incidentId: uniqueName('inc') }, deps({ evidenceBucket: undefined }));
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'Config', final: false });
    expect(await observable(t)).toEqual(before);
  });

  it('resolves the node by its private DNS name, by provider id, and by a Kubernetes node name', async () => {
    const byDns = await target({ secondEni: false, asg: false });
    const dns = (await describeInstance(byDns.instanceId)).PrivateDnsName!;
    const r1 = await isolateNode({ input: { node: dns }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    expect(r1.status).toBe('succeeded');
    expect(r1.details.instanceId).toBe(byDns.instanceId);

    const byProvider = await target({ secondEni: false, asg: false });
    const r2 = await isolateNode({ input: { node: `aws:///${AZ}/${byProvider.instanceId}` }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    expect(r2.details.instanceId).toBe(byProvider.instanceId);

    const byNode = await target({ secondEni: false, asg: false });
    const nodeName = uniqueName('worker');
    fake.addNode({ name: nodeName, instanceId: byNode.instanceId, availabilityZone: AZ });
    const r3 = await invokeAction(isolateNodeAction, { node: nodeName }, { actor: ACTOR, incidentId: uniqueName('inc') }, deps({}, true));
    expect(r3.status).toBe('succeeded');
    expect((r3.details as IsolateNodeDetails).instanceId).toBe(byNode.instanceId);
    expect(tagsOf(await describeInstance(byNode.instanceId))['sentinel:isolated']).toBe('true');
  });

  it('stops the instance only when configured (setting) or asked (input), and says memory is lost', async () => {
    const viaSetting = await target({ secondEni: false, asg: false });
    const r1 = await isolateNode({ input: { node: viaSetting.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps({ stopOnIsolate: true }));
    expect(r1.details).toMatchObject({ stopRequested: true, stopped: true, destroysMemory: true });
    expect(['stopping', 'stopped']).toContain((await describeInstance(viaSetting.instanceId)).State?.Name);
    expect((await readRecord(viaSetting.instanceId))!.json).toMatchObject({ prior: { instanceState: 'running' }, sentinel: { stopped: true } });

    const viaInput = await target({ secondEni: false, asg: false });
    const r2 = await isolateNode({ input: { node: viaInput.instanceId, stopInstance: true }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    expect(r2.details).toMatchObject({ stopRequested: true, stopped: true, destroysMemory: true });
    expect(['stopping', 'stopped']).toContain((await describeInstance(viaInput.instanceId)).State?.Name);

    // The input overrides the setting.
    const keptRunning = await target({ secondEni: false, asg: false });
    const r3 = await isolateNode({ input: { node: keptRunning.instanceId, stopInstance: false }, actor: ACTOR, incidentId: uniqueName('inc') }, deps({ stopOnIsolate: true }));
    expect(r3.details).toMatchObject({ stopRequested: false, stopped: false, destroysMemory: false });
    expect((await describeInstance(keptRunning.instanceId)).State?.Name).toBe('running');
  });

  it('declares that it destroys memory exactly when it would stop the instance', () => {
    const flag = isolateNodeAction.destroysMemory;
    if (typeof flag !== 'function') throw new Error('isolate-node must decide destroysMemory from its input');
    const settings = (stopOnIsolate: boolean) => deps({ stopOnIsolate }).settings;
    expect(flag({ node: 'i-0123456789abcdef0' }, settings(false))).toBe(false);
    expect(flag({ node: 'i-0123456789abcdef0' }, settings(true))).toBe(true);
    expect(flag({ node: 'i-0123456789abcdef0', stopInstance: true }, settings(false))).toBe(true);
    expect(flag({ node: 'i-0123456789abcdef0', stopInstance: false }, settings(true))).toBe(false);
  });

  it('completes an isolation that was never released without overwriting its prior state', async () => {
    const t = await target();
    const firstIncident = uniqueName('inc');
    await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: firstIncident }, deps());
    const saved = (await readRecord(t.instanceId))!.json as { prior: unknown; createdAt: string; sentinel: { snapshots: unknown[] } };
    // Someone removed the tag by hand (the instance is no longer "already isolated").
    await aws.ec2.send(new DeleteTagsCommand({ Resources: [t.instanceId], Tags: [{ Key: 'sentinel:isolated' }] }));

    const secondIncident = uniqueName('inc');
    const result = await isolateNode({ input: { node: t.instanceId }, actor: 'cli', incidentId: secondIncident }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.record.state).toBe('updated');
    const record = (await readRecord(t.instanceId))!.json as typeof saved & { requests: { incidentId: string }[] };
    // The prior groups are still the app groups, not the isolation group the ENIs are on now.
    expect(record.prior).toEqual(saved.prior);
    expect(record.createdAt).toBe(saved.createdAt);
    expect(record.requests.map((r) => r.incidentId)).toEqual([firstIncident, secondIncident]);
    // Evidence for the new incident too; standby was already done.
    expect(record.sentinel.snapshots).toHaveLength(2 * t.volumes.length);
    expect(result.details.asg).toEqual({ groupName: t.groupName, lifecycleStateBefore: 'Standby', standby: 'already' });
    expect(tagsOf(await describeInstance(t.instanceId))).toMatchObject({ 'sentinel:isolated': 'true', 'sentinel:incident': secondIncident });
  });

  it('reuses the snapshots an interrupted run took for the same incident', async () => {
    const t = await target({ secondEni: false, asg: false });
    const incidentId = uniqueName('inc');
    const first = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId }, deps());
    const taken = first.details.snapshots.map((s) => s.snapshotId);
    // Undo everything but the snapshots, as if the first run had died right after step (a).
    await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: t.primaryEni, Groups: [t.appA, t.appB] }));
    await aws.ec2.send(new DeleteTagsCommand({ Resources: [t.instanceId], Tags: [{ Key: 'sentinel:isolated' }, { Key: 'sentinel:incident' }] }));
    await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `isolations/${t.instanceId}.json` }));

    const result = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.snapshots.map((s) => s.snapshotId)).toEqual(taken);
    expect(result.details.snapshots.every((s) => s.reused)).toBe(true);
    expect(await snapshotsOf(t.instanceId)).toHaveLength(t.volumes.length);
    expect(result.details.record.state).toBe('created');
    const record = (await readRecord(t.instanceId))!.json as { prior: { networkInterfaces: { groups: string[] }[] } };
    expect(record.prior.networkInterfaces[0]!.groups.sort()).toEqual([t.appA, t.appB].sort());

    // A different incident takes its own snapshots.
    await aws.ec2.send(new DeleteTagsCommand({ Resources: [t.instanceId], Tags: [{ Key: 'sentinel:isolated' }] }));
    const other = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, deps());
    expect(other.details.snapshots.every((s) => !s.reused && s.snapshotId && !taken.includes(s.snapshotId))).toBe(true);
    expect(await snapshotsOf(t.instanceId)).toHaveLength(2 * t.volumes.length);
  });
  it('keeps the prior state a concurrent run saved first (If-None-Match) and adds to it', async () => {
    const t = await target({ secondEni: false, asg: false });
    const key = `isolations/${t.instanceId}.json`;
    const competitor = {
      version: 1,
      instanceId: t.instanceId,
      vpcId: t.vpcId,
      isolationGroupId: 'sg-0123456789abcdef0',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      requests: [{ incidentId: 'inc-other', actor: 'stepfunctions:exec-1', at: '2026-01-01T00:00:00.000Z' }],
      prior: { instanceState: 'running', networkInterfaces: [{ networkInterfaceId: t.primaryEni, deviceIndex: 0, groups: [t.appA] }], autoScaling: null },
      sentinel: { enteredStandby: false, stopped: false, snapshots: [] },
    };
    // A second client whose first PutObject of the record is overtaken by another writer.
    const racing = createMotoClients();
    let raced = false;
    racing.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (!raced && context.commandName === 'PutObjectCommand') {
          raced = true;
          await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(competitor), IfNoneMatch: '*' }));
        }
        return next(args);
      },
      { step: 'initialize', name: 'overtakeRecordWrite' },
    );
    try {
      const incidentId = uniqueName('inc');
      const result = await isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId }, { ...deps(), aws: { ...aws, s3: racing.s3 } });

      expect(raced).toBe(true);
      expect(result.status).toBe('succeeded');
      expect(result.details.record.state).toBe('updated');
      const record = (await readRecord(t.instanceId))!.json as typeof competitor;
      expect(record.prior).toEqual(competitor.prior);
      expect(record.createdAt).toBe(competitor.createdAt);
      expect(record.requests.map((r) => r.incidentId)).toEqual(['inc-other', incidentId]);
      expect(record.isolationGroupId).toBe(result.details.isolationGroup.groupId);
    } finally {
      destroyAwsClients(racing);
    }
  });
  it('declares exactly the IAM actions it calls (plus ListBucket, and ingress revocation for a tampered group)', async () => {
    const t = await target();
    const { clients, calls } = recordingClients();
    try {
      const result = await isolateNode({ input: { node: t.instanceId, stopInstance: true }, actor: ACTOR, incidentId: uniqueName('inc') }, { ...deps(), aws: clients });
      expect(result.status).toBe('succeeded');
    } finally {
      destroyAwsClients(clients);
    }
    const declared = isolateNodeAction.permissions.iam.filter((a) => a !== 's3:ListBucket' && a !== 'ec2:RevokeSecurityGroupIngress');
    expect([...calls].sort()).toEqual([...declared].sort());
    expect(isolateNodeAction.permissions.rbac).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
  });
});

/*
 * moto does not evaluate IAM; test/support/cloudformation/policySimulator.ts applies the template's
 * policy for the bot to each tag-conditioned call at the moment it is made, with the tags moto has then.
 */
describe('isolate-node under the template\'s IAM conditions', () => {
  const CLUSTER = 'sentinel-test';

  it('tags the instance and its interfaces before it swaps their groups and stops it: every call is allowed', async () => {
    const t = await target({ asgTags: { 'eks:cluster-name': CLUSTER } });
    const clients = createMotoClients();
    const decisions = checkWithTemplatePolicy(clients, { region: MOTO_REGION, account: MOTO_ACCOUNT_ID, vpcId: t.vpcId, clusterName: CLUSTER });
    try {
      const result = await isolateNode({ input: { node: t.instanceId, stopInstance: true }, actor: ACTOR, incidentId: uniqueName('inc') }, { ...deps(), aws: clients });
      expect(result.status).toBe('succeeded');
    } finally {
      destroyAwsClients(clients);
    }
    expect(decisions.filter((d) => !d.allowed)).toEqual([]);
    // Each conditioned change was checked: tags, both ENIs' swaps, the stop and the standby.
    expect([...new Set(decisions.map((d) => d.action))].sort()).toEqual(['autoscaling:EnterStandby', 'ec2:CreateTags', 'ec2:ModifyNetworkInterfaceAttribute', 'ec2:StopInstances']);
    const swaps = decisions.filter((d) => d.action === 'ec2:ModifyNetworkInterfaceAttribute' && d.resource.includes(':network-interface/'));
    expect(swaps.map((d) => d.resource.split('/').pop()).sort()).toEqual([t.primaryEni, t.secondEni!].sort());
    expect(swaps.every((d) => d.why.includes('SwapGroupsOfTaggedInterfaces'))).toBe(true);
    const onto = decisions.filter((d) => d.action === 'ec2:ModifyNetworkInterfaceAttribute' && d.resource.includes(':security-group/'));
    expect(onto.every((d) => d.why.includes('OntoIsolationGroup'))).toBe(true);
  });

  it('would be refused by IAM for an untagged interface or instance, a group of another cluster, or another VPC', async () => {
    const t = await target({ asgTags: { 'eks:cluster-name': 'another-cluster' } });
    const clients = createMotoClients();
    const decisions = checkWithTemplatePolicy(clients, { region: MOTO_REGION, account: MOTO_ACCOUNT_ID, vpcId: t.vpcId, clusterName: CLUSTER });
    try {
      const swap = await captureError(() => clients.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: t.primaryEni, Groups: [t.appB] })));
      expect(swap.name).toBe('UnauthorizedOperation');
      const stop = await captureError(() => clients.ec2.send(new StopInstancesCommand({ InstanceIds: [t.instanceId] })));
      expect(stop.name).toBe('UnauthorizedOperation');
      // isolate-node itself: standby in a group of another cluster is refused, and it changed no group before.
      await expect(isolateNode({ input: { node: t.instanceId }, actor: ACTOR, incidentId: uniqueName('inc') }, { ...deps(), aws: clients })).rejects.toThrow(/EnterStandby/);
      expect(await eniGroups(t.instanceId)).toEqual({ [t.primaryEni]: [t.appA, t.appB].sort(), [t.secondEni!]: [t.appB] });
      // The same calls, with the cluster VPC set to another VPC: even tagged interfaces are refused.
      const elsewhere = createMotoClients();
      checkWithTemplatePolicy(elsewhere, { region: MOTO_REGION, account: MOTO_ACCOUNT_ID, vpcId: 'vpc-00000000000000000', clusterName: CLUSTER });
      try {
        await aws.ec2.send(new CreateTagsCommand({ Resources: [t.primaryEni], Tags: [{ Key: 'sentinel:isolated', Value: 'true' }] }));
        const other = await captureError(() => elsewhere.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: t.primaryEni, Groups: [t.appA] })));
        expect(other.name).toBe('UnauthorizedOperation');
      } finally {
        destroyAwsClients(elsewhere);
      }
    } finally {
      destroyAwsClients(clients);
    }
    expect(decisions.some((d) => !d.allowed && d.action === 'autoscaling:EnterStandby')).toBe(true);
  });
});
