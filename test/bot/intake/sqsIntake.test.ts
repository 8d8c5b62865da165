import { PassThrough } from 'node:stream';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyAwsClients } from '../../../src/aws/clients.js';
import { createSqsIntake } from '../../../src/bot/intake/sqsIntake.js';
import { createLogger } from '../../../src/logger.js';
import { createMotoClients, MOTO_ACCOUNT_ID, motoSettings, uniqueName, waitFor } from '../../support/aws.js';

const aws = createMotoClients();
afterAll(() => destroyAwsClients(aws));

function capturingLogger() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { logger: createLogger({ level: 'debug', format: 'json', stream }), lines };
}

describe('SQS intake', () => {
  it('deletes a handled message and leaves a retried one on the queue', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'done' }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'retry' }));
    const { logger } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 10, waitSeconds: 1, logger });
    const seen: string[] = [];
    intake.start(async (m) => {
      seen.push(m.body ?? '');
      return m.body === 'done' ? 'done' : 'retry';
    });
    await waitFor(async () => (seen.length >= 2 ? true : undefined), { what: 'both messages' });
    await intake.stop();
    expect(seen.sort()).toEqual(['done', 'retry']);
    const attrs = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    const left = Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    expect(left).toBe(1);
  });

  it('a stop while a message is handled waits for it and still deletes it', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    const { logger, lines } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 10, waitSeconds: 20, logger });
    let handling: (() => void) | undefined;
    const started = new Promise<void>((resolve) => (handling = resolve));
    intake.start(async () => {
      handling?.();
      await new Promise((r) => setTimeout(r, 1500));
      return 'done';
    });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'slow' }));
    await started;
    // The message is being handled and the next 20 s long poll is open: stop now.
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    await intake.stop();
    const took = Date.now() - asked;
    expect(took).toBeLessThan(5_000);
    expect(intake.isRunning()).toBe(false);
    const attrs = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)).toBe(0);
    expect(lines.filter((l) => l.message === 'SQS receive failed; backing off')).toEqual([]);
  });

  it('a stop during an open 20 s long poll returns at once, without a receive error', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    const { logger, lines } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 10, waitSeconds: 20, logger });
    intake.start(async () => 'done');
    // The queue is empty: the first receive waits its 20 s.
    await new Promise((r) => setTimeout(r, 1_000));
    const asked = Date.now();
    await intake.stop();
    expect(Date.now() - asked).toBeLessThan(5_000);
    expect(lines.filter((l) => l.message === 'SQS receive failed; backing off')).toEqual([]);
  });

  it('backs off instead of spinning when receiving keeps failing', async () => {
    const missing = `${motoSettings().endpoint}/${MOTO_ACCOUNT_ID}/${uniqueName('gone')}`;
    const { logger, lines } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: missing, source: 'intake', batchSize: 1, visibilitySeconds: 10, waitSeconds: 0, logger });
    intake.start(async () => 'done');
    await new Promise((r) => setTimeout(r, 3500));
    await intake.stop();
    const failures = lines.filter((l) => l.message === 'SQS receive failed; backing off');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    // 1 s, then 2 s: a handful of tries in 3.5 s, not a tight loop.
    expect(failures.length).toBeLessThanOrEqual(4);
    expect(failures.map((f) => f.backoffMs)).toEqual([1000, 2000, 4000, 8000].slice(0, failures.length));
  });
});
