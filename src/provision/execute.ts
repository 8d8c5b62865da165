import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  BucketVersioningStatus,
  CreateBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, UpdateStateMachineCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { CreateDocumentCommand, DocumentFormat, DocumentType, UpdateDocumentCommand, UpdateDocumentDefaultVersionCommand } from '@aws-sdk/client-ssm';
import { AwsError } from '../errors.js';
import { renderDefinition } from './desired.js';
import type { Change, CurrentState, QueueRole } from './plan.js';
import type { ProvisionClients } from './readCurrent.js';

/** Tags put on what sentinel creates (never compared, never rewritten). */
export const PROVISION_TAGS: Readonly<Record<string, string>> = { 'managed-by': 'sentinel' };

export interface ExecuteResult {
  /** The intake queue's URL (known once it exists). */
  queueUrl: string | undefined;
  /** The control queue's URL (known once it exists). */
  controlQueueUrl: string | undefined;
  /** Changes applied, in order (the `unchanged` ones are not). */
  applied: Change[];
}

export interface ExecuteOptions {
  /** Called after each applied change. */
  onApplied?: (change: Change) => void;
}

function wrap(change: Change, err: unknown): AwsError {
  const name = (err as { name?: string })?.name;
  return new AwsError(`cannot ${change.action} ${change.resource}: ${(err as Error)?.message ?? String(err)}`, { cause: err, code: name || 'AwsError' });
}

/**
 * Applies a plan in order. `unchanged` entries make no call, so applying the plan of an
 * account that is already as desired makes no write at all. Stops at the first failure
 * (what was applied before stays; a rerun plans only what is left).
 */
export async function executePlan(clients: ProvisionClients, changes: readonly Change[], current: CurrentState, options: ExecuteOptions = {}): Promise<ExecuteResult> {
  const urls: Urls = {
    'intake-dlq': current.dlq?.url,
    intake: current.queue?.url,
    'control-dlq': current.controlDlq?.url,
    control: current.controlQueue?.url,
  };
  // The desired queue policy rides along with every attribute update of its queue: SQS keeps
  // attributes a SetQueueAttributes call does not name, but moto drops the policy then.
  const policies: Partial<Record<QueueRole, string>> = {};
  for (const c of changes) if (c.kind === 'queue-policy') policies[c.which] = c.policy;
  const applied: Change[] = [];
  for (const change of changes) {
    if (change.action === 'unchanged') continue;
    try {
      await apply(clients, change, urls, policies);
    } catch (err) {
      throw wrap(change, err);
    }
    applied.push(change);
    options.onApplied?.(change);
  }
  return { queueUrl: urls.intake, controlQueueUrl: urls.control, applied };
}

type Urls = Record<QueueRole, string | undefined>;

async function apply(clients: ProvisionClients, change: Change, urls: Urls, policies: Partial<Record<QueueRole, string>>): Promise<void> {
  switch (change.kind) {
    case 'queue': {
      if (change.action === 'create') {
        const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: change.name, Attributes: { ...change.attributes }, tags: { ...PROVISION_TAGS } }));
        urls[change.which] = out.QueueUrl;
      } else {
        const policy = policies[change.which];
        const withPolicy = policy !== undefined ? { Policy: policy } : {};
        await clients.sqs.send(
          new SetQueueAttributesCommand({ QueueUrl: requireUrl(urls[change.which], change.name), Attributes: { ...change.attributes, ...withPolicy } }),
        );
      }
      return;
    }
    case 'queue-policy':
      await clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: requireUrl(urls[change.which], change.queueName), Attributes: { Policy: change.policy } }));
      return;
    case 'rule':
      await clients.eventBridge.send(
        new PutRuleCommand({
          Name: change.name,
          EventBusName: change.eventBusName,
          EventPattern: change.eventPattern,
          State: change.state,
          Description: change.description,
          ...(change.action === 'create' ? { Tags: Object.entries(PROVISION_TAGS).map(([Key, Value]) => ({ Key, Value })) } : {}),
        }),
      );
      return;
    case 'rule-target': {
      const out = await clients.eventBridge.send(
        new PutTargetsCommand({ Rule: change.rule, EventBusName: change.eventBusName, Targets: [{ Id: change.id, Arn: change.arn }] }),
      );
      if (out.FailedEntryCount) {
        const entry = out.FailedEntries?.[0];
        throw new Error(`PutTargets refused the target: ${entry?.ErrorCode ?? ''} ${entry?.ErrorMessage ?? ''}`.trim());
      }
      return;
    }
    case 'bucket':
      await clients.s3.send(
        new CreateBucketCommand({
          Bucket: change.name,
          // us-east-1 takes no location constraint.
          ...(change.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: change.region as BucketLocationConstraint } }),
        }),
      );
      return;
    case 'bucket-encryption':
      await clients.s3.send(
        new PutBucketEncryptionCommand({
          Bucket: change.bucket,
          ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        }),
      );
      return;
    case 'bucket-public-access-block':
      await clients.s3.send(
        new PutPublicAccessBlockCommand({
          Bucket: change.bucket,
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
        }),
      );
      return;
    case 'bucket-versioning':
      await clients.s3.send(new PutBucketVersioningCommand({ Bucket: change.bucket, VersioningConfiguration: { Status: BucketVersioningStatus.Enabled } }));
      return;
    case 'ssm-document': {
      if (change.action === 'create') {
        await clients.ssm.send(
          new CreateDocumentCommand({
            Name: change.name,
            Content: change.content,
            DocumentType: DocumentType.Command,
            DocumentFormat: DocumentFormat.JSON,
            Tags: Object.entries(PROVISION_TAGS).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
        return;
      }
      let version = change.setDefaultVersion;
      if (change.content !== undefined) {
        const out = await clients.ssm.send(
          new UpdateDocumentCommand({ Name: change.name, Content: change.content, DocumentVersion: '$LATEST', DocumentFormat: DocumentFormat.JSON }),
        );
        version = out.DocumentDescription?.DocumentVersion;
        if (!version) throw new Error('UpdateDocument returned no document version');
      }
      // Runs name no version, so they run the default: the new content must become it.
      await clients.ssm.send(new UpdateDocumentDefaultVersionCommand({ Name: change.name, DocumentVersion: version }));
      return;
    }
    case 'state-machine': {
      const definition = JSON.stringify(renderDefinition(change.definitionTemplate, requireUrl(urls.control, 'the control queue')), null, 2);
      if (change.action === 'create') {
        await clients.sfn.send(
          new CreateStateMachineCommand({
            name: change.name,
            roleArn: change.roleArn,
            definition,
            type: 'STANDARD',
            tags: Object.entries(PROVISION_TAGS).map(([key, value]) => ({ key, value })),
          }),
        );
      } else {
        await clients.sfn.send(new UpdateStateMachineCommand({ stateMachineArn: change.arn, roleArn: change.roleArn, definition }));
      }
      return;
    }
  }
}

function requireUrl(url: string | undefined, name: string): string {
  if (!url) throw new Error(`the URL of ${name} is not known (the plan did not create it)`);
  return url;
}
