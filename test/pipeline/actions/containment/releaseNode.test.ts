/**
 * release-node against moto (EC2, Auto Scaling, S3) through the real SDK, after a real
 * isolate-node. Each test builds its own VPC (random CIDR), app groups and instance (in a
 * one-instance Auto Scaling group by default); one evidence bucket per file.
 *
 * Instances are launched without launch-time security groups: moto would keep listing those on
 * the ENI after a swap (see test/backends/aws/ec2Containment.test.ts).
 */
import { randomInt } from 'node:crypto';
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import {
  AttachNetworkInterfaceCommand,
  CreateLaunchTemplateCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { isolateNode } from '../../../../src/pipeline/actions/containment/isolateNode.js';
import { releaseNode, releaseNodeAction, type ReleaseNodeDetails } from '../../../../src/pipeline/actions/containment/releaseNode.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { anyAmiId, createMotoClients, MOTO_ACCOUNT_ID, MOTO_REGION, uniqueName } from '../../../support/aws.js';
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
const RELEASED_AT = new Date('2026-03-01T12:34:56.789Z');

function deps(settings: Partial<PipelineSettings> = {}, withKube = false): ActionDeps {
  return {
    aws,
    ...(withKube ? { kube: createKubeClients(fake.kubeConfig()) } : {}),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...settings },
    logger: createSilentLogger(),
    now: () => RELEASED_AT,
  };
}

interface Target {
  vpcId: string;
  appA: string;
  appB: string;
  instanceId: string;
  groupName: string | null;
  primaryEni: string;
  secondEni: string | null;
}

async function describeInstance(instanceId: string): Promise<Instance> {
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations![0]!.Instances![0]!;
}

async function eniGroups(instanceId: string): Promise<Record<string, string[]>> {
  const instance = await describeInstance(instanceId);
  return Object.fromEntries((instance.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!).sort()]));
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

async function lifecycle(instanceId: string): Promise<string | undefined> {
  const out = await aws.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return out.AutoScalingInstances?.[0]?.LifecycleState;
}

async function recordKeys(instanceId: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'isolations/' }));
  return (out.Contents ?? []).map((o) => o.Key!).filter((k) => k.includes(instanceId)).sort();
}

async function readJson(key: string): Promise<Record<string, unknown>> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as Record<string, unknown>;
}

/** A fresh VPC; the instance's primary ENI on appA+appB, a second ENI (device 1) on appB. */
async function target(opts: { asg?: boolean; secondEni?: boolean; asgTags?: Record<string, string> } = {}): Promise<Target> {
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
  const primaryEni = (await describeInstance(instanceId)).NetworkInterfaces![0]!.NetworkInterfaceId!;
  await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: primaryEni, Groups: [appA, appB] }));
  let secondEni: string | null = null;
  if (opts.secondEni ?? true) {
    const { NetworkInterface } = await aws.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId, Groups: [appB] }));
    secondEni = NetworkInterface!.NetworkInterfaceId!;
    await aws.ec2.send(new AttachNetworkInterfaceCommand({ NetworkInterfaceId: secondEni, InstanceId: instanceId, DeviceIndex: 1 }));
  }
  return { vpcId, appA, appB, instanceId, groupName, primaryEni, secondEni };
}

/** The sentinel tags of each ENI. */
async function eniTags(ids: string[]): Promise<Record<string, Record<string, string>>> {
  const out = await aws.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ids }));
  return Object.fromEntries(
    (out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, Object.fromEntries((n.TagSet ?? []).filter((t) => t.Key!.startsWith('sentinel:')).map((t) => [t.Key!, t.Value!]))]),
  );
}

/** Isolates the target for real and checks it took. */
async function isolate(t: Target, stopInstance = false): Promise<{ incidentId: string; sg: string }> {
  const incidentId = uniqueName('inc');
  const result = await isolateNode({ input: { node: t.instanceId, stopInstance }, actor: ACTOR, incidentId }, deps());
  expect(result.status).toBe('succeeded');
  const sg = result.details.isolationGroup.groupId!;
  expect(Object.values(await eniGroups(t.instanceId)).every((g) => g.length === 1 && g[0] === sg)).toBe(true);
  return { incidentId, sg };
}

describe('release-node', () => {
  it('restores exactly the prior groups of every ENI, exits standby, removes the tags and archives the record', async () => {
    const t = await target();
    const priorGroups = await eniGroups(t.instanceId);
    const { incidentId, sg } = await isolate(t);
    expect(await lifecycle(t.instanceId)).toBe('Standby');
    const record = await readJson(`isolations/${t.instanceId}.json`);

    const result = await invokeAction(releaseNodeAction, { node: t.instanceId }, { actor: 'cli', incidentId, reason: 'false positive' }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`released instance ${t.instanceId}: 2 network interface(s) back on their prior groups, back in service in ${t.groupName}`);
    expect(await eniGroups(t.instanceId)).toEqual(priorGroups);
    expect(await lifecycle(t.instanceId)).toBe('InService');
    // ExitStandby raises the desired capacity by one (AWS does too): the replacement launched on
    // EnterStandby and this instance are both in service now.
    const asg = (await aws.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [t.groupName!] }))).AutoScalingGroups![0]!;
    expect(asg.DesiredCapacity).toBe(2);
    expect(asg.Instances?.filter((i) => i.LifecycleState === 'InService')).toHaveLength(2);
    const instance = await describeInstance(t.instanceId);
    expect(instance.State?.Name).toBe('running');
    expect(tagsOf(instance)['sentinel:isolated']).toBeUndefined();
    expect(tagsOf(instance)['sentinel:incident']).toBeUndefined();
    expect(tagsOf(instance)['aws:autoscaling:groupName']).toBe(t.groupName);
    // isolate-node tagged the ENIs too (IAM lets sentinel swap only tagged ENIs); release untags them.
    expect(await eniTags([t.primaryEni, t.secondEni!])).toEqual({ [t.primaryEni]: {}, [t.secondEni!]: {} });

    const archiveKey = `isolations/released/${t.instanceId}/2026-03-01T12-34-56-789Z.json`;
    expect(await recordKeys(t.instanceId)).toEqual([archiveKey]);
    expect(await readJson(archiveKey)).toEqual({
      ...record,
      released: {
        at: RELEASED_AT.toISOString(),
        incidentId,
        actor: 'cli',
        reason: 'false positive',
        networkInterfaces: [
          { networkInterfaceId: t.primaryEni, action: 'restore' },
          { networkInterfaceId: t.secondEni, action: 'restore' },
        ],
        standby: 'exit',
        start: 'not stopped by sentinel',
        tagsRemoved: ['sentinel:isolated', 'sentinel:incident'],
        interfaceTagsRemoved: [t.primaryEni, t.secondEni],
      },
    });
    const details = result.details as ReleaseNodeDetails;
    expect(details).toEqual({
      node: t.instanceId,
      instanceId: t.instanceId,
      securityGroups: [
        { networkInterfaceId: t.primaryEni, before: [sg], after: expect.arrayContaining([t.appA, t.appB]), action: 'restore' },
        { networkInterfaceId: t.secondEni, before: [sg], after: [t.appB], action: 'restore' },
      ],
      asg: { groupName: t.groupName, lifecycleStateBefore: 'Standby', action: 'exit', done: true },
      start: { action: 'not stopped by sentinel', done: false },
      tagsRemoved: ['sentinel:isolated', 'sentinel:incident'],
      interfaceTagsRemoved: [t.primaryEni, t.secondEni],
      record: { location: `s3://${bucket}/isolations/${t.instanceId}.json`, archivedTo: `s3://${bucket}/${archiveKey}`, deleted: true },
      notes: [`ExitStandby raises the desired capacity of ${t.groupName} by one; the group's scaling policies bring it back`],
    });
    // The isolation group stays for the next isolation in this VPC.
    const groups = await aws.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }));
    expect(groups.SecurityGroups).toHaveLength(1);

    // Released once: a second release is skipped and changes nothing.
    const again = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, deps());
    expect(again.status).toBe('skipped');
    expect(await eniGroups(t.instanceId)).toEqual(priorGroups);
    expect(await recordKeys(t.instanceId)).toEqual([archiveKey]);
  });

  it('starts the instance when sentinel stopped it and it was running before', async () => {
    const t = await target({ asg: false, secondEni: false });
    const priorGroups = await eniGroups(t.instanceId);
    await isolate(t, true);
    expect((await describeInstance(t.instanceId)).State?.Name).toBe('stopped');

    const result = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId: uniqueName('inc') }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toBe(`released instance ${t.instanceId}: 1 network interface(s) back on their prior groups, started`);
    expect(result.details.start).toEqual({ action: 'start', done: true });
    expect(result.details.asg).toBeNull();
    expect((await describeInstance(t.instanceId)).State?.Name).toBe('running');
    expect(await eniGroups(t.instanceId)).toEqual(priorGroups);
  });

  it('does not start an instance that was already stopped before the isolation', async () => {
    const t = await target({ asg: false, secondEni: false });
    await aws.ec2.send(new StopInstancesCommand({ InstanceIds: [t.instanceId] }));
    const { incidentId } = await isolate(t, true);
    const record = await readJson(`isolations/${t.instanceId}.json`);
    expect(record).toMatchObject({ prior: { instanceState: 'stopped' }, sentinel: { stopped: false } });

    const result = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.start).toEqual({ action: 'not stopped by sentinel', done: false });
    expect((await describeInstance(t.instanceId)).State?.Name).toBe('stopped');
  });

  it('leaves an ENI whose groups someone changed since the isolation, and restores the others', async () => {
    const t = await target({ asg: false });
    const { incidentId, sg } = await isolate(t);
    const other = (await aws.ec2.send(new CreateSecurityGroupCommand({ GroupName: uniqueName('manual'), Description: 'manual', VpcId: t.vpcId }))).GroupId!;
    await aws.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: t.secondEni!, Groups: [other] }));

    const result = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    expect(await eniGroups(t.instanceId)).toEqual({ [t.primaryEni]: [t.appA, t.appB].sort(), [t.secondEni!]: [other] });
    expect(result.details.securityGroups).toEqual([
      { networkInterfaceId: t.primaryEni, before: [sg], after: expect.arrayContaining([t.appA, t.appB]), action: 'restore' },
      { networkInterfaceId: t.secondEni, before: [other], after: [other], action: 'changed since isolation' },
    ]);
    expect(result.details.notes).toEqual([`${t.secondEni} is on ${other}, not the isolation group: left as is (prior: ${t.appB})`]);
  });

  it('dry run: returns the plan and changes nothing', async () => {
    const t = await target();
    const { incidentId, sg } = await isolate(t);
    const groups = await eniGroups(t.instanceId);
    const keys = await recordKeys(t.instanceId);
    const tags = tagsOf(await describeInstance(t.instanceId));

    const result = await invokeAction(releaseNodeAction, { node: t.instanceId }, { actor: 'cli', incidentId, dryRun: true }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(
      `dry run: would release instance ${t.instanceId}: put 2 network interface(s) back on their prior groups, move it out of standby in ${t.groupName}, remove tags sentinel:isolated, sentinel:incident, remove sentinel's tags from 2 network interface(s), archive and delete s3://${bucket}/isolations/${t.instanceId}.json`,
    );
    expect(result.details).toMatchObject({
      dryRun: true,
      securityGroups: [
        { networkInterfaceId: t.primaryEni, before: [sg], action: 'restore' },
        { networkInterfaceId: t.secondEni, before: [sg], after: [t.appB], action: 'restore' },
      ],
      asg: { groupName: t.groupName, lifecycleStateBefore: 'Standby', action: 'exit', done: false },
      record: { archivedTo: null, deleted: false },
    });
    expect(await eniGroups(t.instanceId)).toEqual(groups);
    expect(await lifecycle(t.instanceId)).toBe('Standby');
    expect(await recordKeys(t.instanceId)).toEqual(keys);
    expect(tagsOf(await describeInstance(t.instanceId))).toEqual(tags);
  });

  it('is skipped for an instance sentinel did not isolate, and changes nothing', async () => {
    const t = await target({ asg: false, secondEni: false });
    const groups = await eniGroups(t.instanceId);

    const result = await invokeAction(releaseNodeAction, { node: t.instanceId }, { actor: 'cli', incidentId: uniqueName('inc') }, deps());

    expect(result).toEqual({
      status: 'skipped',
      summary: `instance ${t.instanceId} is not isolated by sentinel (no isolation record)`,
      details: {
        node: t.instanceId,
        instanceId: t.instanceId,
        securityGroups: [],
        asg: null,
        start: { action: 'not stopped by sentinel', done: false },
        tagsRemoved: [],
        interfaceTagsRemoved: [],
        record: { location: `s3://${bucket}/isolations/${t.instanceId}.json`, archivedTo: null, deleted: false },
        notes: [],
      },
    });
    expect(await eniGroups(t.instanceId)).toEqual(groups);
    expect(await recordKeys(t.instanceId)).toEqual([]);
  });

  it('resolves a Kubernetes node name to release it', async () => {
    const t = await target({ asg: false, secondEni: false });
    const priorGroups = await eniGroups(t.instanceId);
    const nodeName = uniqueName('worker');
    fake.addNode({ name: nodeName, instanceId: t.instanceId, availabilityZone: AZ });
    const { incidentId } = await isolate(t);

    const result = await invokeAction(releaseNodeAction, { node: nodeName }, { actor: 'cli', incidentId }, deps({}, true));

    expect(result.status).toBe('succeeded');
    expect((result.details as ReleaseNodeDetails).instanceId).toBe(t.instanceId);
    expect(await eniGroups(t.instanceId)).toEqual(priorGroups);
  });

  it('fails NotFound for an unknown node', async () => {
    const result = await invokeAction(releaseNodeAction, { node: 'i-0badc0ffee0000000' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'NotFound', final: true });
  });
  it('archives the record of an instance terminated while isolated', async () => {
    const t = await target({ asg: false, secondEni: false });
    const { incidentId } = await isolate(t);
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [t.instanceId] }));

    const result = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details.start).toEqual({ action: 'not stopped by sentinel', done: false });
    expect(result.details.tagsRemoved).toEqual([]);
    expect(result.details.notes).toContain(`instance ${t.instanceId} is terminated: only its isolation record is archived`);
    expect(result.details.record.deleted).toBe(true);
    expect(await recordKeys(t.instanceId)).toEqual([`isolations/released/${t.instanceId}/2026-03-01T12-34-56-789Z.json`]);
  });
  it('declares exactly the IAM actions it calls (plus ListBucket)', async () => {
    const t = await target({ secondEni: false });
    const { incidentId } = await isolate(t, true);
    const { clients, calls } = recordingClients();
    try {
      const result = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, { ...deps(), aws: clients });
      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ start: { action: 'start', done: true }, asg: { action: 'exit', done: true } });
    } finally {
      destroyAwsClients(clients);
    }
    expect((await describeInstance(t.instanceId)).State?.Name).toBe('running');
    expect(await lifecycle(t.instanceId)).toBe('InService');
    const declared = releaseNodeAction.permissions.iam.filter((a) => a !== 's3:ListBucket');
    expect([...calls].sort()).toEqual([...declared].sort());
    expect(releaseNodeAction.permissions.rbac).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
  });
});

/*
 * moto does not evaluate IAM; test/support/cloudformation/policySimulator.ts applies the template's
 * policy for the bot to each tag-conditioned call at the moment it is made, with the tags moto has then.
 */
describe('release-node under the template\'s IAM conditions', () => {
  const CLUSTER = 'sentinel-test';

  it('restores the groups and starts the instance while they are still tagged, then untags them: every call is allowed', async () => {
    const t = await target({ asgTags: { 'eks:cluster-name': CLUSTER } });
    const priorGroups = await eniGroups(t.instanceId);
    const clients = createMotoClients();
    const decisions = checkWithTemplatePolicy(clients, { region: MOTO_REGION, account: MOTO_ACCOUNT_ID, vpcId: t.vpcId, clusterName: CLUSTER });
    try {
      const incidentId = uniqueName('inc');
      const isolated = await isolateNode({ input: { node: t.instanceId, stopInstance: true }, actor: ACTOR, incidentId }, { ...deps(), aws: clients });
      expect(isolated.status).toBe('succeeded');
      const mark = decisions.length;
      const released = await releaseNode({ input: { node: t.instanceId }, actor: 'cli', incidentId }, { ...deps(), aws: clients });
      expect(released.status).toBe('succeeded');
      const releaseDecisions = decisions.slice(mark);
      expect(releaseDecisions.filter((d) => !d.allowed)).toEqual([]);
      expect([...new Set(releaseDecisions.map((d) => d.action))].sort()).toEqual([
        'autoscaling:ExitStandby',
        'ec2:DeleteTags',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:StartInstances',
      ]);
      // Back onto the prior groups: allowed because they are the cluster VPC's groups.
      const onto = releaseDecisions.filter((d) => d.action === 'ec2:ModifyNetworkInterfaceAttribute' && d.resource.includes(':security-group/'));
      expect(onto.length).toBeGreaterThan(0);
      expect(onto.every((d) => d.why.includes('BackOntoPriorGroups'))).toBe(true);
    } finally {
      destroyAwsClients(clients);
    }
    expect(decisions.filter((d) => !d.allowed)).toEqual([]);
    expect(await eniGroups(t.instanceId)).toEqual(priorGroups);
    expect(await eniTags([t.primaryEni, t.secondEni!])).toEqual({ [t.primaryEni]: {}, [t.secondEni!]: {} });
    // Once released, IAM would no longer let sentinel touch the ENIs' groups.
    const after = createMotoClients();
    checkWithTemplatePolicy(after, { region: MOTO_REGION, account: MOTO_ACCOUNT_ID, vpcId: t.vpcId, clusterName: CLUSTER });
    try {
      await expect(after.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: t.primaryEni, Groups: [t.appB] }))).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    } finally {
      destroyAwsClients(after);
    }
  });
});
