/**
 * runSsmCommand: sends one of sentinel's documents by its deployed name with checked parameters,
 * then waits with the SDK's waitUntilCommandExecuted (on a fake clock in the mocked tests:
 * test/support/fakeWaiterClock.ts). The send is checked against moto (which records the command: document name and
 * parameters). Output, polling through InvocationDoesNotExist/InProgress and timeouts need
 * aws-sdk-client-mock, because moto runs nothing and answers Success with empty output at once
 * (test/support/moto/GAPS.md).
 */
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, InvocationDoesNotExist, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { runSsmCommand } from '../../src/aws/runSsmCommand.js';
import { SSM_DOCUMENTS, ssmDocument } from '../../src/aws/ssmDocuments.js';
import { ValidationError } from '../../src/errors.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, MOTO_REGION, uniqueName } from '../support/aws.js';
import { useFakeWaiterClock } from '../support/fakeWaiterClock.js';

const volatile = ssmDocument(SSM_DOCUMENTS.collectVolatile);

describe('against moto', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createMotoClients();
  });
  afterAll(() => destroyAwsClients(aws));

  it('sends <prefix>-<document> with the parameters as lists, and nothing else', async () => {
    const prefix = uniqueName('p');
    const result = await runSsmCommand(
      aws.ssm,
      { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: prefix, parameters: { item: 'processes', executionTimeout: '60' }, comment: 'sentinel test' }
    );
    // moto runs nothing: Success with empty output (a known gap).
    expect(result).toMatchObject({ status: 'Success', exitCode: 0, stdout: '', documentName: `${prefix}-incident-collect-volatile` });
    const listed = await aws.ssm.send(new ListCommandsCommand({ CommandId: result.commandId }));
    expect(listed.Commands?.[0]).toMatchObject({
      DocumentName: `${prefix}-incident-collect-volatile`,
      Parameters: { item: ['processes'], executionTimeout: ['60'] },
      Comment: 'sentinel test',
    });
    expect(listed.Commands![0]!.InstanceIds).toContain('i-0123456789abcdef0');
    expect(Object.keys(listed.Commands![0]!.Parameters!)).not.toContain('commands');
  });

  it('GAP: moto adds every instance of the region to a command sent without Targets (AWS: only the InstanceIds given)', async () => {
    const { subnetId } = await createVpcWithSubnet(aws.ec2);
    const run = await aws.ec2.send(new RunInstancesCommand({ ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId }));
    const bystander = run.Instances![0]!.InstanceId!;
    const result = await runSsmCommand(aws.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters: { item: 'processes' } });
    const listed = await aws.ssm.send(new ListCommandsCommand({ CommandId: result.commandId }));
    expect(listed.Commands![0]!.InstanceIds).toEqual(expect.arrayContaining(['i-0123456789abcdef0', bystander]));
    // So a test reads back its own commands by command id, never by instance.
    const invocation = await aws.ssm.send(new GetCommandInvocationCommand({ CommandId: result.commandId, InstanceId: bystander }));
    expect(invocation.Status).toBe('Success');
  });
});

describe('with mocked SSM (moto has no output, no pending states, no failures)', () => {
  const unit = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
  const ssm = mockClient(unit.ssm);
  afterEach(() => ssm.reset());
  useFakeWaiterClock();
  afterAll(() => destroyAwsClients(unit));

  it('refuses parameters the document would refuse before calling SSM at all', async () => {
    const refused: Record<string, string>[] = [{ item: 'processes; reboot' }, { item: 'processes', commands: 'id' }, {}, { item: 'web-recent-files', webRoots: '/var/www/../../etc' }];
    for (const parameters of refused) {
      await expect(runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters })).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'aws', parameters: { item: 'processes' } })).rejects.toThrow(
      /not a valid SSM document name/,
    );
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('polls through InvocationDoesNotExist and InProgress, and says where the step wrote its full output in S3', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: 'InvocationDoesNotExist', $metadata: { httpStatusCode: 400 } }))
      .resolvesOnce({ Status: 'InProgress' })
      .resolves({ Status: 'Failed', ResponseCode: 2, StandardOutputContent: '', StandardErrorContent: 'sentinel: unknown volatile item\n' });
    const result = await runSsmCommand(
      unit.ssm,
      { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sec', parameters: { item: 'crontabs' }, output: { bucket: 'evidence', keyPrefix: 'evidence/inc/volatile-ssm/x' } }
    );
    expect(result).toEqual({
      commandId: 'cmd-1',
      status: 'Failed',
      exitCode: 2,
      stdout: '',
      stderr: 'sentinel: unknown volatile item\n',
      documentName: 'sec-incident-collect-volatile',
      outputStdoutKey: 'evidence/inc/volatile-ssm/x/cmd-1/i-0123456789abcdef0/awsrunShellScript/collectVolatile/stdout',
    });
    expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input).toEqual({
      InstanceIds: ['i-0123456789abcdef0'],
      DocumentName: 'sec-incident-collect-volatile',
      Comment: undefined,
      Parameters: { item: ['crontabs'] },
      OutputS3BucketName: 'evidence',
      OutputS3KeyPrefix: 'evidence/inc/volatile-ssm/x',
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
  });

  it('gives up at the deadline with WaitTimedOut, and reports a failed send as an AwsError', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-2' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const started = Date.now();
    const slow = await runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters: { item: 'processes' }, deadlineMs: 10_000 });
    expect(slow).toMatchObject({ commandId: 'cmd-2', status: 'WaitTimedOut', documentName: 'sentinel-incident-collect-volatile' });
    // The waiter backs off (0.5 s doubling, at most 5 s between polls) and never sleeps past the deadline.
    expect(Date.now() - started).toBeLessThanOrEqual(10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
    const polls = ssm.commandCalls(GetCommandInvocationCommand).length;
    expect(polls).toBeGreaterThanOrEqual(4);
    expect(polls).toBeLessThanOrEqual(10);

    ssm.reset();
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error('User is not authorized to perform: ssm:SendCommand'), { name: 'AccessDeniedException' }));
    await expect(runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters: { item: 'processes' } })).rejects.toMatchObject({
      name: 'AwsError',
      code: 'AccessDeniedException',
    });
  });

  it('ends the wait at once on an error other than InvocationDoesNotExist, and reports Cancelling as Cancelled', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-3' } });
    ssm.on(GetCommandInvocationCommand).rejects(Object.assign(new Error('User is not authorized to perform: ssm:GetCommandInvocation'), { name: 'AccessDeniedException' }));
    const started = Date.now();
    await expect(runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters: { item: 'processes' } })).rejects.toMatchObject({
      name: 'AwsError',
      message: expect.stringMatching(/^cannot read SSM command cmd-3: User is not authorized/),
    });
    // Not waited out until the ten-minute deadline: the first refusal ends it.
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1_000);

    ssm.reset();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-4' } });
    ssm.on(GetCommandInvocationCommand).resolvesOnce({ Status: 'Pending' }).resolves({ Status: 'Cancelling', ResponseCode: -1 });
    const cancelled = await runSsmCommand(unit.ssm, { instanceId: 'i-0123456789abcdef0', document: volatile, documentPrefix: 'sentinel', parameters: { item: 'processes' } });
    expect(cancelled).toMatchObject({ commandId: 'cmd-4', status: 'Cancelled', exitCode: undefined });
  });
});
