/** SQS visibility timeout and dead-letter redrive, as the alert consumer relies on them. */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import {
  createMotoClients,
  createStateMachineRoleClients,
  MOTO_DEFAULT_SENDER_ID,
  MOTO_STATE_MACHINE_ROLE_ID,
  MOTO_STATE_MACHINE_SENDER_ID,
  queueArn,
  uniqueName,
  waitFor,
} from '../../support/aws.js';

let aws: AwsClients;

beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

async function createQueue(attributes: Record<string, string> = {}): Promise<string> {
  const out = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('sqs'), Attributes: attributes }));
  return out.QueueUrl!;
}

async function receiveOne(queueUrl: string, waitTimeSeconds = 0): Promise<Message | undefined> {
  const out = await aws.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: waitTimeSeconds,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  return out.Messages?.[0];
}

// Concurrent: every test has its own queues, and most of them wait out visibility timeouts.
describe.concurrent('SQS on moto', () => {
  it("names each message's sender by the caller's credentials: the state machines' role, or anyone else", async () => {
    const queueUrl = await createQueue();
    const role = createStateMachineRoleClients();
    try {
      await role.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'from the state machines' }));
      await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'from anyone else' }));
      const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['SenderId', 'SentTimestamp'] }));
      const senders = Object.fromEntries((out.Messages ?? []).map((m) => [m.Body, m.Attributes?.SenderId]));
      expect(senders).toEqual({ 'from the state machines': MOTO_STATE_MACHINE_SENDER_ID, 'from anyone else': MOTO_DEFAULT_SENDER_ID });
      expect(MOTO_STATE_MACHINE_SENDER_ID.startsWith(`${MOTO_STATE_MACHINE_ROLE_ID}:`)).toBe(true);
      for (const m of out.Messages ?? []) expect(Number(m.Attributes?.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      destroyAwsClients(role);
    }
  });

  it('hides a received message until its visibility timeout ends, then delivers it again', async () => {
    const queueUrl = await createQueue({ VisibilityTimeout: '2' });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'finding-1' }));

    const first = await receiveOne(queueUrl);
    const receivedAt = Date.now();
    expect(first?.Body).toBe('finding-1');
    expect(await receiveOne(queueUrl)).toBeUndefined();

    const again = await waitFor(() => receiveOne(queueUrl), { timeoutMs: 5_000, what: 'the message to reappear' });
    expect(Date.now() - receivedAt).toBeGreaterThanOrEqual(1_900);
    expect(again.Body).toBe('finding-1');
    expect(again.MessageId).toBe(first?.MessageId);
    expect(again.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(again.ReceiptHandle).not.toBe(first?.ReceiptHandle);
  });

  it('ChangeMessageVisibility extends the timeout of a received message', async () => {
    const queueUrl = await createQueue({ VisibilityTimeout: '2' });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'finding-2' }));

    const first = await receiveOne(queueUrl);
    const receivedAt = Date.now();
    await aws.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle!, VisibilityTimeout: 4 }),
    );
    // Long-poll past the queue's 2 s timeout: the extended message must stay hidden.
    expect(await receiveOne(queueUrl, 3)).toBeUndefined();
    expect(Date.now() - receivedAt).toBeGreaterThanOrEqual(2_900);

    const again = await waitFor(() => receiveOne(queueUrl), { timeoutMs: 8_000, what: 'the message to reappear' });
    expect(Date.now() - receivedAt).toBeGreaterThanOrEqual(3_500);
    expect(again.Body).toBe('finding-2');
  });

  it('ChangeMessageVisibility to 0 releases a message at once', async () => {
    const queueUrl = await createQueue({ VisibilityTimeout: '30' });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'finding-3' }));
    const first = await receiveOne(queueUrl);
    expect(await receiveOne(queueUrl)).toBeUndefined();

    await aws.sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle!, VisibilityTimeout: 0 }),
    );
    expect((await receiveOne(queueUrl))?.Body).toBe('finding-3');
  });

  it('redrives a message to the DLQ after maxReceiveCount receives', async () => {
    const dlqUrl = await createQueue();
    const queueUrl = await createQueue({
      VisibilityTimeout: '30',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(aws.sqs, dlqUrl), maxReceiveCount: 2 }),
    });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));

    // Two receives without a delete (a consumer that keeps failing), each released at once.
    for (const expectedCount of ['1', '2']) {
      const m = await receiveOne(queueUrl);
      expect(m?.Body).toBe('poison');
      expect(m?.Attributes?.ApproximateReceiveCount).toBe(expectedCount);
      await aws.sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m!.ReceiptHandle!, VisibilityTimeout: 0 }),
      );
    }

    // The third receive finds the message gone from the source queue…
    expect(await receiveOne(queueUrl)).toBeUndefined();
    // …and on the dead-letter queue.
    const dead = await waitFor(() => receiveOne(dlqUrl), { timeoutMs: 5_000, what: 'the message on the DLQ' });
    expect(dead.Body).toBe('poison');
  });

  it('keeps a message on the source queue while receives stay within maxReceiveCount', async () => {
    const dlqUrl = await createQueue();
    const queueUrl = await createQueue({
      VisibilityTimeout: '30',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(aws.sqs, dlqUrl), maxReceiveCount: 3 }),
    });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'retry-me' }));
    for (let i = 0; i < 2; i++) {
      const m = await receiveOne(queueUrl);
      await aws.sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m!.ReceiptHandle!, VisibilityTimeout: 0 }),
      );
    }
    expect((await receiveOne(queueUrl))?.Attributes?.ApproximateReceiveCount).toBe('3');
    expect(await receiveOne(dlqUrl)).toBeUndefined();
  });
});
