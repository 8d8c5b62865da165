import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
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

/** Starts the intake with a handler that holds its message for 8 s; resolves once it has one. */
async function startBusyFor8s(intake: ReturnType<typeof createSqsIntake>): Promise<void> {
  let taken = false;
  intake.start(async () => {
    taken = true;
    await new Promise((r) => setTimeout(r, 8_000));
    return 'done';
  });
  await waitFor(async () => (taken ? true : undefined), { what: 'the message taken' });
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

  it('a stop while a message is handled waits for it (within its grace) and still deletes it', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    const { logger, lines } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 10, waitSeconds: 20, stopGraceMs: 5_000, logger });
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
  it('a slow message holds only its own slot: the messages after it are handled and deleted meanwhile', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'slow' }));
    const { logger } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, concurrency: 20, visibilitySeconds: 30, waitSeconds: 1, logger });
    let releaseSlow: (() => void) | undefined;
    const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
    const seen: string[] = [];
    intake.start(async (m) => {
      seen.push(m.body ?? '');
      if (m.body === 'slow') await slowHeld;
      return 'done';
    });
    await waitFor(async () => (seen.includes('slow') ? true : undefined), { what: 'the slow message taken' });
    // Sent after the slow one was taken: with a batch barrier none of these would be handled before it ends.
    for (let batch = 0; batch < 3; batch++) {
      const Entries = Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `fast-${batch}-${i}` }));
      await aws.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
    }
    await waitFor(async () => (seen.filter((b) => b.startsWith('fast-')).length === 30 ? true : undefined), { what: 'the 30 fast messages', timeoutMs: 30_000 });
    // Only the slow message is left (in flight), while it is still being handled.
    await waitFor(
      async () => {
        const a = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
        return Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) === 1 ? true : undefined;
      },
      { what: 'the fast messages deleted' },
    );
    releaseSlow?.();
    await intake.stop();
    const left = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(Number(left.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(left.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)).toBe(0);
  });

  it('handles at most `concurrency` messages at once', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    for (let batch = 0; batch < 3; batch++) {
      const Entries = Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `m-${batch}-${i}` }));
      await aws.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
    }
    const { logger } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 5, concurrency: 7, visibilitySeconds: 30, waitSeconds: 1, logger });
    let now = 0;
    let most = 0;
    let handled = 0;
    intake.start(async () => {
      now++;
      most = Math.max(most, now);
      await new Promise((r) => setTimeout(r, 50));
      now--;
      handled++;
      return 'done';
    });
    await waitFor(async () => (handled === 30 ? true : undefined), { what: 'all 30 handled', timeoutMs: 30_000 });
    await intake.stop();
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(7);
  });

  it('keeps a message invisible while it is handled longer than its visibility timeout', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'long' }));
    const { logger, lines } = capturingLogger();
    // A 2 s timeout: the heartbeat (every 1 s) extends it; without it the message would be delivered again.
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 2, waitSeconds: 1, logger });
    const deliveries: number[] = [];
    intake.start(async (m) => {
      deliveries.push(m.receiveCount);
      if (deliveries.length === 1) await new Promise((r) => setTimeout(r, 5_000));
      return 'done';
    });
    await new Promise((r) => setTimeout(r, 6_000));
    await intake.stop();
    expect(deliveries).toEqual([1]);
    expect(lines.filter((l) => String(l.message).includes('delivered again'))).toEqual([]);
    const left = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(Number(left.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(left.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)).toBe(0);
  });
  it('a stop does not wait out a long handler: after its grace the message is released for redelivery', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'long step' }));
    const { logger, lines } = capturingLogger();
    const intake = createSqsIntake(aws.sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 60, waitSeconds: 1, stopGraceMs: 500, logger });
    await startBusyFor8s(intake);
    const asked = Date.now();
    await intake.stop();
    expect(Date.now() - asked).toBeLessThan(3_000);
    expect(lines.some((l) => l.message === 'stopping with messages still being handled; they are released for redelivery')).toBe(true);
    // Visible again at once (not after its 60 s visibility timeout).
    const attrs = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0)).toBe(1);
  });

  it('a stop does not wait on SQS either: releases that are not answered are given up after a second', async () => {
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('intake') }));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'long step' }));
    // moto answers everything: a proxy in front of it that never answers visibility changes plays
    // an endpoint too busy to answer while the bot stops.
    const moto = new URL(motoSettings().endpoint!);
    const held: { destroy(): void }[] = [];
    const proxy = createServer((req, res) => {
      if (String(req.headers['x-amz-target']).endsWith('.ChangeMessageVisibilityBatch')) {
        held.push(res.socket!);
        return;
      }
      const upstream = request({ host: moto.hostname, port: moto.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const sqs = new SQSClient({ ...motoSettings(), endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, useQueueUrlAsEndpoint: false });
    try {
      const { logger, lines } = capturingLogger();
      const intake = createSqsIntake(sqs, { queueUrl: QueueUrl!, source: 'intake', batchSize: 10, visibilitySeconds: 60, waitSeconds: 1, stopGraceMs: 300, logger });
      await startBusyFor8s(intake);
      const asked = Date.now();
      await intake.stop();
      expect(Date.now() - asked).toBeLessThan(2_500);
      expect(held.length).toBeGreaterThan(0);
      expect(lines.some((l) => String(l.message).startsWith('stopped before SQS answered the last deletes or releases'))).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      sqs.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
