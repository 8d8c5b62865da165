/**
 * Auto Scaling standby as containment uses it: take an instance out of service without shrinking
 * the group (ShouldDecrementDesiredCapacity=false), so the group launches a replacement.
 */
import {
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  EnterStandbyCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, uniqueName } from '../../support/aws.js';

let aws: AwsClients;

beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

async function describeGroup(name: string): Promise<AutoScalingGroup> {
  const out = await aws.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  const group = out.AutoScalingGroups?.[0];
  if (!group) throw new Error(`no auto scaling group ${name}`);
  return group;
}

/** A launch template and a one-instance group in a fresh VPC. */
async function groupWithOneInstance(): Promise<{ groupName: string; instanceId: string }> {
  const { subnetId } = await createVpcWithSubnet(aws.ec2);
  const { LaunchTemplate } = await aws.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: uniqueName('lt'),
      LaunchTemplateData: { ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro' },
    }),
  );
  const groupName = uniqueName('asg');
  await aws.autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: groupName,
      LaunchTemplate: { LaunchTemplateId: LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
      MinSize: 1,
      MaxSize: 3,
      DesiredCapacity: 1,
      VPCZoneIdentifier: subnetId,
    }),
  );
  const group = await describeGroup(groupName);
  expect(group.Instances).toHaveLength(1);
  expect(group.Instances?.[0]?.LifecycleState).toBe('InService');
  return { groupName, instanceId: group.Instances![0]!.InstanceId! };
}

const enterStandby = (groupName: string, instanceId: string) =>
  aws.autoScaling.send(
    new EnterStandbyCommand({
      AutoScalingGroupName: groupName,
      InstanceIds: [instanceId],
      ShouldDecrementDesiredCapacity: false,
    }),
  );

describe('Auto Scaling standby on moto', () => {
  it('EnterStandby without decrementing keeps desired capacity and launches a replacement', async () => {
    const { groupName, instanceId } = await groupWithOneInstance();

    const out = await enterStandby(groupName, instanceId);
    expect(out.Activities).toHaveLength(1);
    expect(out.Activities?.[0]?.Description).toContain(instanceId);

    const group = await describeGroup(groupName);
    expect(group.DesiredCapacity).toBe(1);
    const standby = group.Instances?.find((i) => i.InstanceId === instanceId);
    expect(standby?.LifecycleState).toBe('Standby');
    const inService = group.Instances?.filter((i) => i.LifecycleState === 'InService') ?? [];
    expect(inService).toHaveLength(1);
    expect(inService[0]?.InstanceId).not.toBe(instanceId);

    const asInstance = await aws.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
    expect(asInstance.AutoScalingInstances?.[0]?.LifecycleState).toBe('Standby');
    expect(asInstance.AutoScalingInstances?.[0]?.AutoScalingGroupName).toBe(groupName);
  });

  it('a second EnterStandby for an instance already in Standby succeeds on moto (AWS: ValidationError "not in InService")', async () => {
    const { groupName, instanceId } = await groupWithOneInstance();
    await enterStandby(groupName, instanceId);
    const before = await describeGroup(groupName);

    // GAP: AWS rejects this with ValidationError ("The instance <id> is not in InService.").
    // moto does no state check: it answers 200 with one more activity and changes nothing.
    const again = await enterStandby(groupName, instanceId);
    expect(again.$metadata.httpStatusCode).toBe(200);
    expect(again.Activities).toHaveLength(1);
    expect(again.Activities?.[0]?.Description).toBe(`Moving EC2 instance to StandBy: ${instanceId}`);

    const after = await describeGroup(groupName);
    expect(after.DesiredCapacity).toBe(before.DesiredCapacity);
    expect(after.Instances?.find((i) => i.InstanceId === instanceId)?.LifecycleState).toBe('Standby');
    expect(after.Instances).toHaveLength(before.Instances!.length);
  });

  it('EnterStandby for an instance outside the group succeeds with no activities on moto (AWS: ValidationError)', async () => {
    const { groupName } = await groupWithOneInstance();
    const other = await groupWithOneInstance();

    // GAP: AWS answers ValidationError ("The instance <id> is not part of Auto Scaling group <name>.").
    const out = await enterStandby(groupName, other.instanceId);
    expect(out.Activities).toEqual([]);
    const otherGroup = await describeGroup(other.groupName);
    expect(otherGroup.Instances?.find((i) => i.InstanceId === other.instanceId)?.LifecycleState).toBe('InService');
  });
});
