/**
 * Two kinds of tests side by side:
 *
 * 1. Against moto: pin down where moto differs from AWS for SSM Run Command and network ACL
 *    entries (these assertions document moto's behaviour; see test/support/moto/GAPS.md).
 * 2. With aws-sdk-client-mock: how later unit tests cover what the emulator is missing
 *    (real command output, AWS's validation errors), on clients made by the product's own
 *    createAwsClients.
 */
import {
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  DeleteNetworkAclEntryCommand,
  DescribeNetworkAclsCommand,
  EC2ServiceException,
  ReplaceNetworkAclEntryCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { anyAmiId, captureError, createMotoClients, createVpcWithSubnet } from '../../support/aws.js';

describe('moto gaps (documented behaviour of the emulator)', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createMotoClients();
  });
  afterAll(() => destroyAwsClients(aws));

  it('SSM SendCommand "succeeds" at once and GetCommandInvocation has empty output', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const run = await aws.ec2.send(
      new RunInstancesCommand({ ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;

    const sent = await aws.ssm.send(
      new SendCommandCommand({
        InstanceIds: [instanceId],
        DocumentName: 'AWS-RunShellScript',
        Parameters: { commands: ['echo sentinel-evidence; uname -a'] },
      }),
    );
    const commandId = sent.Command!.CommandId!;
    // Nothing runs: the command is reported done before anything could have executed.
    expect(sent.Command?.Status).toBe('Success');

    const invocation = await aws.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    expect(invocation.Status).toBe('Success');
    expect(invocation.ResponseCode).toBe(0);
    expect(invocation.StandardOutputContent).toBe(''); // AWS: "sentinel-evidence\nLinux …"
    expect(invocation.StandardErrorContent).toBe('');

    // Another instance id for the same command: no invocation (as on AWS).
    const other = await captureError(() =>
      aws.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: 'i-0000000000000beef' })),
    );
    expect(other.name).toBe('InvocationDoesNotExist');
  });

  it('SSM SendCommand accepts an instance id that does not exist (AWS: InvalidInstanceId)', async () => {
    const sent = await aws.ssm.send(
      new SendCommandCommand({
        InstanceIds: ['i-0000000000000dead'],
        DocumentName: 'AWS-RunShellScript',
        Parameters: { commands: ['true'] },
      }),
    );
    expect(sent.Command?.Status).toBe('Success');
  });

  it('SSM ListCommandInvocations is a 500 on moto', async () => {
    const sent = await aws.ssm.send(
      new SendCommandCommand({ InstanceIds: ['i-0000000000000dead'], DocumentName: 'AWS-RunShellScript', Parameters: { commands: ['true'] } }),
    );
    const err = await captureError(() =>
      aws.ssm.send(new ListCommandInvocationsCommand({ CommandId: sent.Command!.CommandId!, Details: true })),
    );
    expect(err.$metadata?.httpStatusCode).toBe(500);
  });

  it('accepts network ACL rule numbers outside 1..32766 (AWS rejects them)', async () => {
    const { vpcId } = await createVpcWithSubnet(aws.ec2);
    const { NetworkAcl } = await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    const naclId = NetworkAcl!.NetworkAclId!;

    for (const RuleNumber of [0, 32767, 40000]) {
      await aws.ec2.send(
        new CreateNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '192.0.2.0/24' }),
      );
    }
    const described = await aws.ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [naclId] }));
    expect(described.NetworkAcls?.[0]?.Entries?.map((e) => e.RuleNumber).sort((a, b) => a! - b!)).toEqual([0, 32767, 40000]);
  });

  it('creates a custom network ACL without the default deny-all (*) entries AWS adds', async () => {
    const { vpcId } = await createVpcWithSubnet(aws.ec2);
    const { NetworkAcl } = await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    expect(NetworkAcl?.Entries).toEqual([]);
    // The VPC's default ACL does have them (allow 100, deny 32767, both directions).
    const defaults = await aws.ec2.send(
      new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'default', Values: ['true'] }] }),
    );
    const rules = defaults.NetworkAcls?.[0]?.Entries?.map((e) => `${e.Egress ? 'out' : 'in'}:${e.RuleNumber}:${e.RuleAction}`).sort();
    expect(rules).toEqual(['in:100:allow', 'in:32767:deny', 'out:100:allow', 'out:32767:deny']);
  });

  it('answers Replace/DeleteNetworkAclEntry for a missing rule with a 500 (AWS: InvalidNetworkAclEntry.NotFound)', async () => {
    const { vpcId } = await createVpcWithSubnet(aws.ec2);
    const { NetworkAcl } = await aws.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    const naclId = NetworkAcl!.NetworkAclId!;

    const replaced = await captureError(() =>
      aws.ec2.send(
        new ReplaceNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber: 555, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '192.0.2.0/24' }),
      ),
    );
    expect(replaced.$metadata?.httpStatusCode).toBe(500);
    const deleted = await captureError(() =>
      aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber: 556, Egress: true })),
    );
    expect(deleted.$metadata?.httpStatusCode).toBe(500);
  });
});

/*
 * The mocks below cover behaviour the emulator is missing. They run on clients built by the
 * product's createAwsClients (no endpoint, so nothing could reach AWS even if a command were
 * left unmocked: aws-sdk-client-mock answers every command of a mocked client).
 */
describe('covering emulator-missing behaviour with aws-sdk-client-mock', () => {
  const clients = createAwsClients({ region: 'ap-northeast-2', credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
  const ssm = mockClient(clients.ssm);
  const ec2 = mockClient(clients.ec2);
  afterEach(() => {
    ssm.reset();
    ec2.reset();
  });
  afterAll(() => destroyAwsClients(clients));

  /**
   * The shape later evidence code will have: send a command, then poll GetCommandInvocation
   * until a terminal status. (A stand-in here; the real one belongs in src/.)
   */
  async function runShell(client: SSMClient, instanceId: string, commands: string[]): Promise<GetCommandInvocationCommandOutput> {
    const sent = await client.send(
      new SendCommandCommand({ InstanceIds: [instanceId], DocumentName: 'AWS-RunShellScript', Parameters: { commands } }),
    );
    const commandId = sent.Command!.CommandId!;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const inv = await client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
        if (!['Pending', 'InProgress', 'Delayed'].includes(inv.Status ?? '')) return inv;
      } catch (err) {
        // AWS answers InvocationDoesNotExist for a moment right after SendCommand.
        if (!(err instanceof InvocationDoesNotExist)) throw err;
      }
    }
    throw new Error(`command ${commandId} did not finish`);
  }

  it('mocked SSM returns real-looking output that moto never produces', async () => {
    const instanceId = 'i-0abc123def4567890';
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1', Status: 'Pending' } });
    ssm
      .on(GetCommandInvocationCommand, { CommandId: 'cmd-1', InstanceId: instanceId })
      .rejectsOnce(new InvocationDoesNotExist({ message: 'InvocationDoesNotExist', $metadata: { httpStatusCode: 400 } }))
      .resolvesOnce({ CommandId: 'cmd-1', InstanceId: instanceId, Status: 'InProgress' })
      .resolves({
        CommandId: 'cmd-1',
        InstanceId: instanceId,
        Status: 'Success',
        ResponseCode: 0,
        StandardOutputContent: 'sentinel-evidence\nLinux ip-10-0-1-23 6.1.0-amzn x86_64 GNU/Linux\n',
        StandardErrorContent: '',
      });

    const result = await runShell(clients.ssm, instanceId, ['echo sentinel-evidence; uname -a']);

    expect(result.Status).toBe('Success');
    expect(result.StandardOutputContent).toMatch(/^sentinel-evidence\nLinux /);
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
    expect(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
      InstanceIds: [instanceId],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: ['echo sentinel-evidence; uname -a'] },
    });
  });

  it('mocked SSM surfaces a failed command with its exit code and stderr', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-2' } });
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      ResponseCode: 127,
      StandardOutputContent: '',
      StandardErrorContent: 'sh: 1: lsof: not found\nfailed to run commands: exit status 127',
    });
    const result = await runShell(clients.ssm, 'i-0abc123def4567890', ['lsof -i']);
    expect(result.Status).toBe('Failed');
    expect(result.ResponseCode).toBe(127);
    expect(result.StandardErrorContent).toContain('not found');
  });

  it('mocked EC2 rejects a network ACL rule number above 32766 the way AWS does', async () => {
    // moto accepts any number; AWS allows 1..32766 (32767 is the implicit deny-all "*" rule).
    ec2
      .on(CreateNetworkAclEntryCommand)
      .callsFake((input: { RuleNumber?: number }) => {
        const n = input.RuleNumber ?? 0;
        if (n < 1 || n > 32766) {
          throw new EC2ServiceException({
            name: 'InvalidParameterValue',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
            message: `Invalid value '${n}' for ruleNumber. Value must be between 1 and 32766.`,
          });
        }
        return {};
      });

    const inRange = await clients.ec2.send(
      new CreateNetworkAclEntryCommand({ NetworkAclId: 'acl-1', RuleNumber: 32766, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '192.0.2.0/24' }),
    );
    expect(inRange).toEqual({});
    for (const RuleNumber of [32767, 40000]) {
      const err = await captureError(() =>
        clients.ec2.send(
          new CreateNetworkAclEntryCommand({ NetworkAclId: 'acl-1', RuleNumber, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '192.0.2.0/24' }),
        ),
      );
      expect(err).toBeInstanceOf(EC2ServiceException);
      expect(err.name).toBe('InvalidParameterValue');
      expect(err.$metadata?.httpStatusCode).toBe(400);
    }
    expect(ec2.commandCalls(CreateNetworkAclEntryCommand)).toHaveLength(3);
  });
});
