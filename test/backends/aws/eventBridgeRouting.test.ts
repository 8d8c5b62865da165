/**
 * EventBridge routes GuardDuty findings by numeric severity to an SQS queue.
 * Each test run uses its own event bus, so parallel files putting events cannot interfere.
 */
import { CreateEventBusCommand, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { createMotoClients, queueArn, uniqueName } from '../../support/aws.js';

let aws: AwsClients;
let busName: string;
let queueUrl: string;

const pattern = {
  'detail-type': ['GuardDuty Finding'],
  detail: { severity: [{ numeric: ['>=', 8] }] },
};

beforeAll(async () => {
  aws = createMotoClients();
  busName = uniqueName('findings');
  await aws.eventBridge.send(new CreateEventBusCommand({ Name: busName }));
  queueUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('high-findings') }))).QueueUrl!;
  const ruleName = uniqueName('high-severity');
  await aws.eventBridge.send(
    new PutRuleCommand({ Name: ruleName, EventBusName: busName, EventPattern: JSON.stringify(pattern), State: 'ENABLED' }),
  );
  // No queue policy for events.amazonaws.com: AWS needs one, moto delivers without it (see GAPS.md).
  const targets = await aws.eventBridge.send(
    new PutTargetsCommand({ Rule: ruleName, EventBusName: busName, Targets: [{ Id: 'queue', Arn: await queueArn(aws.sqs, queueUrl) }] }),
  );
  expect(targets.FailedEntryCount).toBe(0);
});
afterAll(() => destroyAwsClients(aws));

async function putFinding(id: string, severity: number, detailType = 'GuardDuty Finding'): Promise<void> {
  const out = await aws.eventBridge.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: busName, Source: 'aws.guardduty', DetailType: detailType, Detail: JSON.stringify({ id, severity }) }],
    }),
  );
  expect(out.FailedEntryCount).toBe(0);
}

/** Receives until the queue stays empty for one long poll; returns the finding ids delivered. */
async function drainFindingIds(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    if (!out.Messages?.length) return ids;
    for (const m of out.Messages) {
      const event = JSON.parse(m.Body!) as { 'detail-type': string; source: string; detail: { id: string; severity: number } };
      expect(event['detail-type']).toBe('GuardDuty Finding');
      expect(event.source).toBe('aws.guardduty');
      ids.push(event.detail.id);
      await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  throw new Error('the queue did not drain');
}

describe('EventBridge numeric pattern to SQS on moto', () => {
  it('delivers findings with severity >= 8 to the queue and drops lower ones', async () => {
    await putFinding('low-5', 5);
    await putFinding('high-8.5', 8.5);
    await putFinding('edge-8', 8);
    await putFinding('just-below-7.9', 7.9);
    await putFinding('other-type-9', 9, 'GuardDuty Something Else');

    expect((await drainFindingIds()).sort()).toEqual(['edge-8', 'high-8.5']);
  });

  it('delivers the whole event envelope with the detail as JSON', async () => {
    await putFinding('envelope-9', 9);
    const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 2 }));
    const event = JSON.parse(out.Messages![0]!.Body!) as Record<string, unknown>;
    expect(event).toMatchObject({
      'detail-type': 'GuardDuty Finding',
      source: 'aws.guardduty',
      detail: { id: 'envelope-9', severity: 9 },
    });
    expect(typeof event.id).toBe('string');
    expect(typeof event.time).toBe('string');
    await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: out.Messages![0]!.ReceiptHandle! }));
    expect(await drainFindingIds()).toEqual([]);
  });
});
