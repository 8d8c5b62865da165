import { DescribeEventBusCommand, DescribeRuleCommand, ListTargetsByRuleCommand, type EventBridgeClient, type Target } from '@aws-sdk/client-eventbridge';
import {
  GetBucketEncryptionCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DescribeStateMachineCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DescribeDocumentCommand, GetDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsError, ConfigError } from '../errors.js';
import type { DesiredQueue, DesiredSsmDocument, DesiredState } from './desired.js';
import { sameContent, type CurrentBucket, type CurrentQueue, type CurrentRole, type CurrentRule, type CurrentSsmDocument, type CurrentState, type CurrentStateMachine, type CurrentTarget } from './plan.js';

/** The clients provisioning uses. */
export interface ProvisionClients {
  sqs: SQSClient;
  eventBridge: EventBridgeClient;
  sfn: SFNClient;
  s3: S3Client;
  ssm: SSMClient;
  /** Only to read the state machines' role id (iam:GetRole); without it the id is reported as unknown. */
  iam?: IAMClient | undefined;
}

interface AwsErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function errorName(err: unknown): string {
  return (err as AwsErrorShape)?.name ?? '';
}
function httpStatus(err: unknown): number | undefined {
  return (err as AwsErrorShape)?.$metadata?.httpStatusCode;
}

function fail(what: string, err: unknown): never {
  throw new AwsError(`cannot read ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, code: errorName(err) || 'AwsError' });
}

async function readQueue(sqs: SQSClient, want: DesiredQueue): Promise<CurrentQueue | undefined> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: want.name }))).QueueUrl;
  } catch (err) {
    const name = errorName(err);
    if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') return undefined;
    fail(`queue ${want.name}`, err);
  }
  if (!url) return undefined;
  let attributes: Record<string, string>;
  try {
    attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
  } catch (err) {
    fail(`the attributes of queue ${want.name}`, err);
  }
  if (attributes.QueueArn && attributes.QueueArn !== want.arn) {
    throw new ConfigError(
      `queue ${want.name} is ${attributes.QueueArn}, not ${want.arn}: SENTINEL_SFN_ROLE_ARN must be a role in the account and partition provisioned into`,
    );
  }
  return { url, attributes };
}

async function readRule(eb: EventBridgeClient, desired: DesiredState): Promise<{ rule: CurrentRule | undefined; targets: CurrentTarget[] }> {
  const { name, eventBusName } = desired.rule;
  if (eventBusName !== 'default') {
    try {
      await eb.send(new DescribeEventBusCommand({ Name: eventBusName }));
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') {
        throw new ConfigError(`event bus ${eventBusName} does not exist (SENTINEL_GUARDDUTY_EVENT_BUS); create it or use default`);
      }
      fail(`event bus ${eventBusName}`, err);
    }
  }
  let rule: CurrentRule;
  try {
    const r = await eb.send(new DescribeRuleCommand({ Name: name, EventBusName: eventBusName }));
    rule = { arn: r.Arn, eventPattern: r.EventPattern, state: r.State, description: r.Description };
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return { rule: undefined, targets: [] };
    fail(`rule ${name}`, err);
  }
  const targets: CurrentTarget[] = [];
  let token: string | undefined;
  do {
    let page: { Targets?: Target[]; NextToken?: string };
    try {
      page = await eb.send(new ListTargetsByRuleCommand({ Rule: name, EventBusName: eventBusName, NextToken: token }));
    } catch (err) {
      fail(`the targets of rule ${name}`, err);
    }
    for (const t of page.Targets ?? []) {
      if (!t.Id || !t.Arn) continue;
      targets.push({ id: t.Id, arn: t.Arn, transformed: Boolean(t.Input || t.InputPath || t.InputTransformer) });
    }
    token = page.NextToken;
  } while (token);
  return { rule, targets };
}

async function readBucket(s3: S3Client, bucket: string, region: string): Promise<CurrentBucket | undefined> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404 || errorName(err) === 'NotFound' || errorName(err) === 'NoSuchBucket') return undefined;
    if (status === 403) {
      throw new ConfigError(`bucket ${bucket} exists but this account cannot use it (403): bucket names are global; set SENTINEL_EVIDENCE_BUCKET or another prefix`);
    }
    if (status === 301) throw new ConfigError(`bucket ${bucket} exists in another region than ${region}`);
    fail(`bucket ${bucket}`, err);
  }
  let encrypted = false;
  try {
    const out = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    encrypted = (out.ServerSideEncryptionConfiguration?.Rules ?? []).some((r) => r.ApplyServerSideEncryptionByDefault?.SSEAlgorithm);
  } catch (err) {
    if (errorName(err) !== 'ServerSideEncryptionConfigurationNotFoundError') fail(`the encryption of bucket ${bucket}`, err);
  }
  let publicAccessBlock: CurrentBucket['publicAccessBlock'];
  try {
    publicAccessBlock = (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration;
  } catch (err) {
    if (errorName(err) !== 'NoSuchPublicAccessBlockConfiguration') fail(`the public access block of bucket ${bucket}`, err);
  }
  let versioning: string | undefined;
  try {
    versioning = (await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
  } catch (err) {
    fail(`the versioning of bucket ${bucket}`, err);
  }
  return { encrypted, publicAccessBlock, versioning };
}

async function readStateMachine(sfn: SFNClient, arn: string): Promise<CurrentStateMachine | undefined> {
  try {
    const out = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    if (!out.definition || !out.roleArn) return undefined;
    return { arn, definition: out.definition, roleArn: out.roleArn };
  } catch (err) {
    if (errorName(err) === 'StateMachineDoesNotExist') return undefined;
    fail(`state machine ${arn}`, err);
  }
}

async function readSsmDocument(ssm: SSMClient, want: DesiredSsmDocument): Promise<CurrentSsmDocument | undefined> {
  const name = want.name;
  let described;
  try {
    described = (await ssm.send(new DescribeDocumentCommand({ Name: name }))).Document;
  } catch (err) {
    if (errorName(err) === 'InvalidDocument') return undefined;
    fail(`SSM document ${name}`, err);
  }
  if (!described) return undefined;
  if (described.DocumentType && described.DocumentType !== 'Command') {
    throw new ConfigError(`SSM document ${name} exists as a ${described.DocumentType} document, not Command: remove it or use another prefix`);
  }
  const defaultVersion = described.DefaultVersion;
  let defaultContent: string | undefined;
  try {
    defaultContent = (await ssm.send(new GetDocumentCommand({ Name: name, ...(defaultVersion ? { DocumentVersion: defaultVersion } : {}) }))).Content;
  } catch (err) {
    fail(`SSM document ${name} version ${defaultVersion ?? 'default'}`, err);
  }
  let matchingVersion: string | undefined;
  if (!sameContent(defaultContent, want.content)) {
    // Another version may hold the file's content already (SSM refuses to repeat it): versions
    // are numbered 1…LatestVersion, newest first; a deleted version is skipped.
    const latest = Number(described.LatestVersion ?? defaultVersion ?? 0);
    for (let v = latest; v >= 1 && !matchingVersion; v -= 1) {
      const version = String(v);
      if (version === defaultVersion) continue;
      let text: string | undefined;
      try {
        text = (await ssm.send(new GetDocumentCommand({ Name: name, DocumentVersion: version }))).Content;
      } catch (err) {
        if (errorName(err) === 'InvalidDocumentVersion') continue;
        fail(`SSM document ${name} version ${version}`, err);
      }
      if (sameContent(text, want.content)) matchingVersion = version;
    }
  }
  return { documentType: described.DocumentType, defaultVersion, defaultContent, matchingVersion };
}

/** The role's unique id (AROA…), or why it cannot be read; never fails provisioning. */
async function readRole(iam: IAMClient | undefined, roleArn: string): Promise<CurrentRole> {
  const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
  if (!iam) return { unreadable: 'no IAM client' };
  try {
    const roleId = (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role?.RoleId;
    return roleId ? { roleId } : { unreadable: 'GetRole returned no RoleId' };
  } catch (err) {
    const name = errorName(err);
    if (name === 'NoSuchEntity' || name === 'NoSuchEntityException') return { unreadable: `role ${roleName} does not exist` };
    return { unreadable: `iam:GetRole on ${roleName} failed: ${name || (err as Error)?.message || String(err)}` };
  }
}

/** What exists now, for the resources in `desired`, and the state machines' role id. Read-only: Get/Describe/List/Head calls only. */
export async function readCurrentState(clients: ProvisionClients, desired: DesiredState): Promise<CurrentState> {
  const [dlq, queue, controlDlq, controlQueue, ruleAndTargets, bucket, documents, machines, stateMachineRole] = await Promise.all([
    readQueue(clients.sqs, desired.dlq),
    readQueue(clients.sqs, desired.queue),
    readQueue(clients.sqs, desired.controlDlq),
    readQueue(clients.sqs, desired.controlQueue),
    readRule(clients.eventBridge, desired),
    readBucket(clients.s3, desired.bucket.name, desired.bucket.region),
    Promise.all(desired.ssmDocuments.map(async (d) => [d.name, await readSsmDocument(clients.ssm, d)] as const)),
    Promise.all(desired.stateMachines.map(async (m) => [m.name, await readStateMachine(clients.sfn, m.arn)] as const)),
    readRole(clients.iam, desired.sfnRoleArn),
  ]);
  const ssmDocuments: Record<string, CurrentSsmDocument> = {};
  for (const [name, d] of documents) if (d) ssmDocuments[name] = d;
  const stateMachines: Record<string, CurrentStateMachine> = {};
  for (const [name, m] of machines) if (m) stateMachines[name] = m;
  return {
    dlq,
    queue,
    controlDlq,
    controlQueue,
    rule: ruleAndTargets.rule,
    targets: ruleAndTargets.targets,
    bucket,
    ssmDocuments,
    stateMachines,
    stateMachineRole,
  };
}
