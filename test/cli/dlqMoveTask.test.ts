/**
 * `sentinel dlq replay --all` with SQS's own redrive (StartMessageMoveTask). moto 5.2.5 does not
 * implement StartMessageMoveTask (test/README.md; dlqCommand.test.ts shows moto's answer), so
 * this file mocks the SQS client (aws-sdk-client-mock) and checks the calls the command makes.
 */
import { PassThrough } from 'node:stream';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDlqReplay } from '../../src/cli/dlqCommand.js';
import type { CliContext } from '../../src/cli/types.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

const ACCOUNT = '123456789012';
const arn = (name: string) => `arn:aws:sqs:eu-west-1:${ACCOUNT}:${name}`;
const url = (name: string) => `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/${name}`;

const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());
afterEach(() => sqs.reset());

function context(): { ctx: CliContext; out: () => string } {
  const config = loadConfig({
    env: { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', SENTINEL_QUEUE_URL: url('intake'), SENTINEL_CONTROL_QUEUE_URL: url('control') },
    envFile: false,
  });
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d) => (text += d));
  const sink = new PassThrough();
  return { ctx: { config, logger: createLogger({ stream: sink }), stdin: new PassThrough(), stdout, stderr: sink }, out: () => text };
}

/** The source queues with their redrive policies, and each DLQ with `count` messages. */
function queues(dlqOf: { intake: string; control: string }, count: number) {
  sqs.on(GetQueueAttributesCommand, { QueueUrl: url('intake') }).resolves({ Attributes: { QueueArn: arn('intake'), RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(dlqOf.intake), maxReceiveCount: 5 }) } });
  sqs.on(GetQueueAttributesCommand, { QueueUrl: url('control') }).resolves({ Attributes: { QueueArn: arn('control'), RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(dlqOf.control), maxReceiveCount: '5' }) } });
  for (const name of new Set([dlqOf.intake, dlqOf.control])) {
    sqs.on(GetQueueUrlCommand, { QueueName: name, QueueOwnerAWSAccountId: ACCOUNT }).resolves({ QueueUrl: url(name) });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: url(name) }).resolves({ Attributes: { ApproximateNumberOfMessages: String(count), ApproximateNumberOfMessagesNotVisible: '0' } });
  }
  sqs.on(StartMessageMoveTaskCommand).callsFake((input: { SourceArn: string }) => ({ TaskHandle: `handle-for-${input.SourceArn.split(':').pop()}` }));
}

describe('sentinel dlq replay --all (SQS redrive)', () => {
  it('starts one move task per DLQ, back to the queue whose redrive policy names it, and re-sends nothing by hand', async () => {
    queues({ intake: 'intake-dlq', control: 'control-dlq' }, 3);
    const { ctx, out } = context();
    expect(await runDlqReplay({ all: true, resend: false, dryRun: false }, ctx)).toBe(0);
    const starts = sqs.commandCalls(StartMessageMoveTaskCommand).map((c) => c.args[0].input);
    expect(starts).toEqual([
      { SourceArn: arn('intake-dlq'), DestinationArn: arn('intake') },
      { SourceArn: arn('control-dlq'), DestinationArn: arn('control') },
    ]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
    expect(out()).toContain(`intake DLQ ${url('intake-dlq')}: SQS is moving about 3 messages back to the intake queue ${url('intake')} (StartMessageMoveTask, task handle-for-intake-dlq)`);
    expect(out()).toContain(`control DLQ ${url('control-dlq')}: SQS is moving about 3 messages back to the control queue ${url('control')} (StartMessageMoveTask, task handle-for-control-dlq)`);
  });

  it('with one DLQ shared by both queues, starts a single task that returns each message to its own source', async () => {
    queues({ intake: 'shared-dlq', control: 'shared-dlq' }, 2);
    const { ctx, out } = context();
    expect(await runDlqReplay({ all: true, resend: false, dryRun: false }, ctx)).toBe(0);
    expect(sqs.commandCalls(StartMessageMoveTaskCommand).map((c) => c.args[0].input)).toEqual([{ SourceArn: arn('shared-dlq') }]);
    expect(out()).toContain('each back to its own source queue');
  });

  it('starts nothing for an empty DLQ, or in a dry run', async () => {
    queues({ intake: 'intake-dlq', control: 'control-dlq' }, 0);
    const { ctx, out } = context();
    expect(await runDlqReplay({ queue: 'control', all: true, resend: false, dryRun: false }, ctx)).toBe(0);
    expect(out()).toBe(`control DLQ ${url('control-dlq')}: empty, nothing to move\n`);
    sqs.reset();
    queues({ intake: 'intake-dlq', control: 'control-dlq' }, 4);
    const dry = context();
    expect(await runDlqReplay({ queue: 'intake', all: true, resend: false, dryRun: true }, dry.ctx)).toBe(0);
    expect(dry.out()).toBe(`dry run: would start SQS's redrive (StartMessageMoveTask) of about 4 messages from ${url('intake-dlq')} back to the intake queue ${url('intake')}\n`);
    expect(sqs.commandCalls(StartMessageMoveTaskCommand)).toHaveLength(0);
  });

  it('refuses a queue without a redrive policy', async () => {
    sqs.on(GetQueueAttributesCommand, { QueueUrl: url('intake') }).resolves({ Attributes: { QueueArn: arn('intake') } });
    const { ctx } = context();
    await expect(runDlqReplay({ queue: 'intake', all: true, resend: false, dryRun: false }, ctx)).rejects.toThrow(/the intake queue \S+ has no redrive policy, so it has no DLQ/);
  });
});
