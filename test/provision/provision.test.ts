/**
 * `provision` against moto: an empty account gets everything, a second run changes nothing
 * (no write call at all), a dry run never writes, and what was created works: GuardDuty
 * findings reach the intake queue by numeric severity, a state machine's task message reaches
 * the control queue through the substituted URL, sentinel's SSM documents exist with their
 * files' content, and the state machines' role id is printed for SENTINEL_SFN_ROLE_ID.
 */
import { CreateEventBusCommand, DescribeRuleCommand, ListTargetsByRuleCommand, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, GetBucketEncryptionCommand, GetBucketVersioningCommand, GetPublicAccessBlockCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { DescribeStateMachineCommand, StartExecutionCommand, StopExecutionCommand, UpdateStateMachineCommand } from '@aws-sdk/client-sfn';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DescribeDocumentCommand, GetDocumentCommand, UpdateDocumentCommand, UpdateDocumentDefaultVersionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions, createAwsClients, destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { AwsError, ConfigError } from '../../src/errors.js';
import { buildDesiredState, renderDefinition, type DesiredState } from '../../src/provision/desired.js';
import { loadStateMachineTemplates, provision } from '../../src/provision/provision.js';
import { captureError, createMotoClients, MOTO_ACCOUNT_ID, MOTO_REGION, motoSettings, uniqueName, waitFor } from '../support/aws.js';

const READ = /^(Get|List|Describe|Head)/;

let aws: AwsClients;
let iam: IAMClient;
let roleId: string;
/** Every command sent through the product's clients, by name, in order. */
const calls: string[] = [];
const writesSince = (mark: number) => calls.slice(mark).filter((c) => !READ.test(c));

let desired: DesiredState;
let busName: string;

/** A Command document shaped like deploy/ssm's (schemaVersion 2.2, typed parameters). */
function ssmDocument(description: string): string {
  return JSON.stringify(
    {
      schemaVersion: '2.2',
      description,
      parameters: { incident: { type: 'String', description: 'incident id', allowedPattern: '^[A-Za-z0-9-]{1,64}$' } },
      mainSteps: [{ action: 'aws:runShellScript', name: 'collect', inputs: { runCommand: ['uname -r'] } }],
    },
    null,
    2,
  );
}

beforeAll(async () => {
  aws = createMotoClients();
  const recorder =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: unknown): Promise<unknown> => {
      calls.push(String(context.commandName ?? 'unknown').replace(/Command$/, ''));
      return next(args);
    };
  type Stack = { add(middleware: typeof recorder, options: { step: 'initialize'; name: string }): void };
  iam = new IAMClient(awsClientOptions(motoSettings()));
  for (const client of [aws.sqs, aws.eventBridge, aws.sfn, aws.s3, aws.ssm, iam]) {
    (client.middlewareStack as unknown as Stack).add(recorder, { step: 'initialize', name: 'countProvisionCalls' });
  }
  busName = uniqueName('gd-bus');
  await aws.eventBridge.send(new CreateEventBusCommand({ Name: busName }));
  const roleName = uniqueName('sfn-role');
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  roleId = role.Role!.RoleId!;
  calls.length = 0;
  desired = buildDesiredState({
    prefix: uniqueName('pv'),
    region: MOTO_REGION,
    sfnRoleArn: role.Role!.Arn!,
    minSeverity: 8,
    visibilitySeconds: 60,
    eventBusName: busName,
    stateMachines: loadStateMachineTemplates(),
    ssmDocuments: [
      { basename: 'incident-test', content: ssmDocument('incident side') },
      { basename: 'workstation-test', content: ssmDocument('workstation side') },
    ],
  });
});
afterAll(() => {
  destroyAwsClients(aws);
  iam.destroy();
});
const withIam = () => ({ ...aws, iam });

async function queueUrl(name = desired.queue.name): Promise<string> {
  return (await aws.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
}

describe('provision on moto', () => {
  it('plans everything as create in a dry run and writes nothing', async () => {
    const mark = calls.length;
    const result = await provision(withIam(), desired, { dryRun: true });
    expect(result.changes.map((c) => c.action)).toEqual(result.changes.map(() => 'create'));
    expect(result.applied).toEqual([]);
    expect(calls.length).toBeGreaterThan(mark); // it did read
    expect(writesSince(mark)).toEqual([]);
    expect((await captureError(() => queueUrl())).name).toBe('QueueDoesNotExist');
    expect(result.settings.find((s) => s.name === 'SENTINEL_QUEUE_URL')?.value).toBeUndefined();
    expect(result.settings.find((s) => s.name === 'SENTINEL_CONTROL_QUEUE_URL')?.value).toBeUndefined();
    // The role already exists: its id is known even before anything is created.
    expect(result.settings.find((s) => s.name === 'SENTINEL_SFN_ROLE_ID')?.value).toBe(roleId);
  });

  it('creates both queues, their DLQs and policies, the rule, target, bucket, SSM documents and state machines', async () => {
    const mark = calls.length;
    const result = await provision(withIam(), desired, { dryRun: false });
    expect(result.summary).toEqual({ create: result.changes.length, update: 0, unchanged: 0 });
    expect(result.applied).toHaveLength(result.changes.length);
    expect(writesSince(mark).sort()).toEqual(
      [
        'CreateQueue',
        'CreateQueue',
        'CreateQueue',
        'CreateQueue',
        'SetQueueAttributes',
        'SetQueueAttributes',
        'CreateDocument',
        'CreateDocument',
        'PutRule',
        'PutTargets',
        'CreateBucket',
        'PutBucketEncryption',
        'PutPublicAccessBlock',
        'PutBucketVersioning',
        ...desired.stateMachines.map(() => 'CreateStateMachine'),
      ].sort(),
    );

    const url = await queueUrl();
    expect(result.settings.find((s) => s.name === 'SENTINEL_QUEUE_URL')?.value).toBe(url);
    const attrs = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
    expect(attrs.QueueArn).toBe(desired.queue.arn);
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({ deadLetterTargetArn: desired.dlq.arn, maxReceiveCount: 5 });
    expect(Number(attrs.VisibilityTimeout)).toBeGreaterThanOrEqual(60);
    expect(attrs.SqsManagedSseEnabled).toBe('true');

    // The policy names the rule's real ARN (as EventBridge reports it), and nothing else may send.
    const rule = await aws.eventBridge.send(new DescribeRuleCommand({ Name: desired.rule.name, EventBusName: busName }));
    expect(rule.Arn).toBe(desired.rule.arn);
    expect(JSON.parse(rule.EventPattern!)).toEqual({ source: ['aws.guardduty'], 'detail-type': ['GuardDuty Finding'], detail: { severity: [{ numeric: ['>=', 8] }] } });
    const policy = JSON.parse(attrs.Policy!) as { Statement: { Principal: unknown; Condition?: unknown; Resource: string }[] };
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0]).toMatchObject({ Principal: { Service: 'events.amazonaws.com' }, Resource: desired.queue.arn, Condition: { ArnEquals: { 'aws:SourceArn': rule.Arn } } });

    // The control queue: its own DLQ, and a policy that lets only the state machines' role send.
    const controlUrl = await queueUrl(desired.controlQueue.name);
    expect(result.settings.find((s) => s.name === 'SENTINEL_CONTROL_QUEUE_URL')?.value).toBe(controlUrl);
    expect(result.settings.find((s) => s.name === 'SENTINEL_SFN_ROLE_ID')?.value).toBe(roleId);
    const control = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: controlUrl, AttributeNames: ['All'] }))).Attributes!;
    expect(control.QueueArn).toBe(desired.controlQueue.arn);
    expect(JSON.parse(control.RedrivePolicy!)).toEqual({ deadLetterTargetArn: desired.controlDlq.arn, maxReceiveCount: 5 });
    expect(control.SqsManagedSseEnabled).toBe('true');
    const controlDlq = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: await queueUrl(desired.controlDlq.name), AttributeNames: ['All'] }))).Attributes!;
    expect(controlDlq.MessageRetentionPeriod).toBe('1209600');
    const controlPolicy = JSON.parse(control.Policy!) as { Statement: { Sid: string; Effect: string; Principal: unknown; Condition?: unknown }[] };
    expect(controlPolicy.Statement.map((st) => [st.Sid, st.Effect])).toEqual([
      ['StateMachineStepsOnly', 'Allow'],
      ['DenySendersOtherThanStateMachineRole', 'Deny'],
      ['DenyDeliveriesForOtherResources', 'Deny'],
    ]);
    expect(controlPolicy.Statement[1]!.Condition).toEqual({ ArnNotEquals: { 'aws:PrincipalArn': desired.sfnRoleArn } });

    // sentinel's SSM documents, with their files' content as the default version.
    for (const d of desired.ssmDocuments) {
      const doc = await aws.ssm.send(new GetDocumentCommand({ Name: d.name }));
      expect(doc.DocumentType).toBe('Command');
      expect(JSON.parse(doc.Content!)).toEqual(JSON.parse(d.content));
    }
    const targets = await aws.eventBridge.send(new ListTargetsByRuleCommand({ Rule: desired.rule.name, EventBusName: busName }));
    expect(targets.Targets?.map((t) => [t.Id, t.Arn])).toEqual([['sentinel-queue', desired.queue.arn]]);

    const bucket = desired.bucket.name;
    const enc = await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
    expect((await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    expect((await aws.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');

    for (const m of desired.stateMachines) {
      const sm = await aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: m.arn }));
      expect(sm.roleArn).toBe(m.roleArn);
      expect(sm.definition).not.toContain('${ControlQueueUrl}');
      expect(JSON.parse(sm.definition!)).toEqual(renderDefinition(m.definition, controlUrl));
      expect(sm.definition).not.toContain(url);
      expect(result.settings.some((s) => s.value === m.arn)).toBe(true);
    }
  });

  it('changes nothing on a second run: every entry unchanged, no write call', async () => {
    const mark = calls.length;
    const result = await provision(withIam(), desired, { dryRun: false });
    expect(result.changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.resource}: ${c.why}`)).toEqual([]);
    expect(result.applied).toEqual([]);
    expect(writesSince(mark)).toEqual([]);
    const dry = await provision(withIam(), desired, { dryRun: true });
    expect(dry.summary).toEqual({ create: 0, update: 0, unchanged: result.changes.length });
    expect(dry.settings).toEqual(result.settings);
  });

  it('delivers a GuardDuty finding of severity 8.5 to the queue, and not one of 5', async () => {
    const put = async (id: string, severity: number) => {
      const out = await aws.eventBridge.send(
        new PutEventsCommand({ Entries: [{ EventBusName: busName, Source: 'aws.guardduty', DetailType: 'GuardDuty Finding', Detail: JSON.stringify({ id, severity }) }] }),
      );
      expect(out.FailedEntryCount).toBe(0);
    };
    await put('low-5', 5);
    await put('high-8.5', 8.5);
    const url = await queueUrl();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      if (!out.Messages?.length) break;
      for (const m of out.Messages) {
        ids.push((JSON.parse(m.Body!) as { detail: { id: string } }).detail.id);
        await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
    expect(ids).toEqual(['high-8.5']);
  });

  it('runs the Falco playbook against the provisioned control queue (the substituted URL works)', async () => {
    const falco = desired.stateMachines.find((m) => m.basename === 'falco-incident');
    expect(falco).toBeDefined();
    const name = uniqueName('exec');
    const { executionArn } = await aws.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: falco!.arn,
        name,
        input: JSON.stringify({
          incidentId: 'inc-1',
          startTime: '2024-01-01T00:00:00.000Z',
          route: 'record',
          triage: { route: 'record' },
          event: {},
          config: { approvalTimeoutSeconds: 60, defaultDecision: 'allow', heartbeatSeconds: 120, dryRun: false },
          steps: {},
          results: {},
        }),
      }),
    );
    const url = await queueUrl(desired.controlQueue.name);
    const task = await waitFor(
      async () => {
        const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
        const m = out.Messages?.[0];
        if (!m) return undefined;
        await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
        return JSON.parse(m.Body!) as { kind: string; action: string; executionName: string };
      },
      { what: 'the playbook task message', timeoutMs: 60_000 },
    );
    expect(task).toMatchObject({ kind: 'task', action: 'record-incident', executionName: name });
    await aws.sfn.send(new StopExecutionCommand({ executionArn }));
  });

  it('puts back what was changed by hand, and only that', async () => {
    const url = await queueUrl();
    // The policy is named too: moto (unlike SQS) drops it on a SetQueueAttributes that leaves it out.
    const { Policy } = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['Policy'] }))).Attributes!;
    await aws.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '15', Policy: Policy! } }));
    await aws.eventBridge.send(
      new PutRuleCommand({
        Name: desired.rule.name,
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: ['aws.guardduty'], 'detail-type': ['GuardDuty Finding'], detail: { severity: [8, 9, 10] } }),
        State: 'ENABLED',
        Description: desired.rule.description,
      }),
    );
    const falco = desired.stateMachines.find((m) => m.basename === 'falco-incident')!;
    await aws.sfn.send(new UpdateStateMachineCommand({ stateMachineArn: falco.arn, definition: JSON.stringify(renderDefinition(falco.definition, 'https://sqs.invalid/old')) }));

    const doc = desired.ssmDocuments[0]!;
    const edited = await aws.ssm.send(new UpdateDocumentCommand({ Name: doc.name, Content: ssmDocument('edited by hand'), DocumentVersion: '$LATEST' }));
    await aws.ssm.send(new UpdateDocumentDefaultVersionCommand({ Name: doc.name, DocumentVersion: edited.DocumentDescription!.DocumentVersion! }));

    const mark = calls.length;
    const result = await provision(withIam(), desired, { dryRun: false });
    expect(result.applied.map((c) => `${c.action} ${c.resource}`)).toEqual([
      `update sqs queue ${desired.queue.name}`,
      `update eventbridge rule ${busName}/${desired.rule.name}`,
      `update ssm document ${doc.name}`,
      `update state machine ${falco.name}`,
    ]);
    // The hand edit became the default (what runs); version 1 still holds the file's content
    // (SSM would refuse it as a new version), so version 1 becomes the default again.
    expect(writesSince(mark).sort()).toEqual(['PutRule', 'SetQueueAttributes', 'UpdateDocumentDefaultVersion', 'UpdateStateMachine'].sort());
    const described = (await aws.ssm.send(new DescribeDocumentCommand({ Name: doc.name }))).Document!;
    expect([described.DefaultVersion, described.LatestVersion]).toEqual(['1', '2']);
    expect(JSON.parse((await aws.ssm.send(new GetDocumentCommand({ Name: doc.name }))).Content!)).toEqual(JSON.parse(doc.content));
    const again = await provision(withIam(), desired, { dryRun: true });
    expect(again.summary.unchanged).toBe(again.changes.length);
  });

  it('sends a changed SSM document file as a new default version, and then changes nothing', async () => {
    const changed = buildDesiredState({
      prefix: desired.prefix,
      region: MOTO_REGION,
      sfnRoleArn: desired.sfnRoleArn,
      minSeverity: 8,
      visibilitySeconds: 60,
      eventBusName: busName,
      stateMachines: loadStateMachineTemplates(),
      ssmDocuments: [
        { basename: 'incident-test', content: ssmDocument('incident side, second edition') },
        { basename: 'workstation-test', content: ssmDocument('workstation side') },
      ],
    });
    const name = changed.ssmDocuments[0]!.name;
    const before = (await aws.ssm.send(new DescribeDocumentCommand({ Name: name }))).Document!;
    const mark = calls.length;
    const result = await provision(withIam(), changed, { dryRun: false });
    expect(result.applied.map((c) => `${c.action} ${c.resource}`)).toEqual([`update ssm document ${name}`]);
    expect(writesSince(mark)).toEqual(['UpdateDocument', 'UpdateDocumentDefaultVersion']);
    const after = (await aws.ssm.send(new DescribeDocumentCommand({ Name: name }))).Document!;
    expect(Number(after.DefaultVersion)).toBe(Number(before.LatestVersion) + 1);
    expect(JSON.parse((await aws.ssm.send(new GetDocumentCommand({ Name: name }))).Content!).description).toBe('incident side, second edition');
    const mark2 = calls.length;
    expect((await provision(withIam(), changed, { dryRun: false })).applied).toEqual([]);
    expect(writesSince(mark2)).toEqual([]);
  });

  it('says how to get the role id when IAM does not give it', async () => {
    const mark = calls.length;
    const result = await provision(aws, desired, { dryRun: true });
    expect(writesSince(mark)).toEqual([]);
    const roleName = desired.sfnRoleArn.split('/').pop()!;
    expect(result.settings.find((s) => s.name === 'SENTINEL_SFN_ROLE_ID')).toEqual({
      name: 'SENTINEL_SFN_ROLE_ID',
      value: undefined,
      unknown: `no IAM client; get it with: aws iam get-role --role-name ${roleName} --query Role.RoleId --output text`,
    });
    const missing = buildDesiredState({
      prefix: desired.prefix,
      region: MOTO_REGION,
      sfnRoleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/${uniqueName('absent')}`,
      minSeverity: 8,
      visibilitySeconds: 60,
      eventBusName: busName,
      stateMachines: loadStateMachineTemplates(),
    });
    const r2 = await provision(withIam(), missing, { dryRun: true });
    expect(r2.settings.find((s) => s.name === 'SENTINEL_SFN_ROLE_ID')?.unknown).toMatch(/^role absent-\S+ does not exist; get it with: aws iam get-role/);
  });
});

/*
 * What moto does not do as AWS does, with aws-sdk-client-mock on the product's own clients
 * (no endpoint; every command of a mocked client is answered by the mock).
 */
describe('provision where moto differs from AWS (mocked)', () => {
  const clients = createAwsClients({ region: 'eu-west-1', credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
  const sqs = mockClient(clients.sqs);
  const eb = mockClient(clients.eventBridge);
  const sfn = mockClient(clients.sfn);
  const s3 = mockClient(clients.s3);
  afterEach(() => [sqs, eb, sfn, s3].forEach((m) => m.reset()));
  afterAll(() => destroyAwsClients(clients));

  const mocked = buildDesiredState({
    prefix: 'acme',
    region: 'eu-west-1',
    sfnRoleArn: 'arn:aws:iam::210987654321:role/sfn',
    minSeverity: 8,
    visibilitySeconds: 60,
    stateMachines: [{ basename: 'falco-incident', definition: { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } } }],
  });
  const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  /** An account that has the queues (the intake queue as given, the others as desired) and nothing else. */
  function onlyQueues(queueAttributes: Record<string, string>) {
    sqs.on(GetQueueUrlCommand, { QueueName: 'acme-control' }).resolves({ QueueUrl: 'https://sqs/acme-control' });
    sqs.on(GetQueueUrlCommand, { QueueName: 'acme-control-dlq' }).resolves({ QueueUrl: 'https://sqs/acme-control-dlq' });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: 'https://sqs/acme-control' }).resolves({
      Attributes: { ...mocked.controlQueue.attributes, QueueArn: mocked.controlQueue.arn, Policy: JSON.stringify(mocked.controlQueuePolicy) },
    });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: 'https://sqs/acme-control-dlq' }).resolves({ Attributes: { ...mocked.controlDlq.attributes, QueueArn: mocked.controlDlq.arn } });
    sqs.on(GetQueueUrlCommand, { QueueName: 'acme-intake' }).resolves({ QueueUrl: 'https://sqs/acme-intake' });
    sqs.on(GetQueueUrlCommand, { QueueName: 'acme-intake-dlq' }).resolves({ QueueUrl: 'https://sqs/acme-intake-dlq' });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: 'https://sqs/acme-intake' }).resolves({ Attributes: queueAttributes });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: 'https://sqs/acme-intake-dlq' }).resolves({ Attributes: { ...mocked.dlq.attributes, QueueArn: mocked.dlq.arn } });
    eb.on(DescribeRuleCommand).rejects(awsError('ResourceNotFoundException', 400));
    sfn.on(DescribeStateMachineCommand).rejects(awsError('StateMachineDoesNotExist', 400));
    s3.on(HeadBucketCommand).rejects(awsError('NotFound', 404));
  }

  it('keeps the queue policy when it updates other queue attributes (moto drops it otherwise)', async () => {
    onlyQueues({
      ...mocked.queue.attributes,
      VisibilityTimeout: '30',
      QueueArn: mocked.queue.arn,
      Policy: JSON.stringify(mocked.queuePolicy),
    });
    eb.on(PutRuleCommand).resolves({});
    eb.on(PutTargetsCommand).resolves({ FailedEntryCount: 0 });
    const result = await provision(clients, mocked, { dryRun: false });
    expect(result.changes.find((c) => c.kind === 'queue-policy')?.action).toBe('unchanged');
    const sets = sqs.commandCalls(SetQueueAttributesCommand).map((c) => c.args[0].input);
    expect(sets).toEqual([{ QueueUrl: 'https://sqs/acme-intake', Attributes: { VisibilityTimeout: '60', Policy: JSON.stringify(mocked.queuePolicy) } }]);
  });

  it('refuses a bucket name someone else owns (403) or one in another region (301)', async () => {
    onlyQueues({ ...mocked.queue.attributes, QueueArn: mocked.queue.arn, Policy: JSON.stringify(mocked.queuePolicy) });
    s3.on(HeadBucketCommand).rejects(awsError('Forbidden', 403));
    expect((await captureError(() => provision(clients, mocked, { dryRun: true }))).message).toMatch(/bucket acme-evidence-210987654321-eu-west-1 exists but this account cannot use it/);
    s3.on(HeadBucketCommand).rejects(awsError('PermanentRedirect', 301));
    expect((await captureError(() => provision(clients, mocked, { dryRun: true }))).message).toMatch(/in another region than eu-west-1/);
  });

  it('refuses a role from another account than the queues\' (the ARNs would never match)', async () => {
    onlyQueues({ ...mocked.queue.attributes, QueueArn: 'arn:aws:sqs:eu-west-1:111111111111:acme-intake' });
    const err = await captureError(() => provision(clients, mocked, { dryRun: true }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/SENTINEL_SFN_ROLE_ARN must be a role in the account/);
  });

  it('stops at a refused target with the reason, keeping what was applied', async () => {
    onlyQueues({ ...mocked.queue.attributes, QueueArn: mocked.queue.arn, Policy: JSON.stringify(mocked.queuePolicy) });
    eb.on(PutRuleCommand).resolves({});
    eb.on(PutTargetsCommand).resolves({ FailedEntryCount: 1, FailedEntries: [{ ErrorCode: 'AccessDenied', ErrorMessage: 'no' }] });
    const err = await captureError(() => provision(clients, mocked, { dryRun: false }));
    expect(err).toBeInstanceOf(AwsError);
    expect(err.message).toBe('cannot create eventbridge target acme-guardduty/sentinel-queue: PutTargets refused the target: AccessDenied no');
    expect(s3.commandCalls(CreateBucketCommand)).toHaveLength(0);
  });
});
