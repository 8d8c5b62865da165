import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { AwsError, describeError } from '../../errors.js';

/** A message read from a DLQ without deleting it; `receiptHandle` lets the caller delete or release it. */
export interface PeekedMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  /** SQS's ApproximateReceiveCount before this peek (the peek itself is one more receive). */
  receiveCount: number;
  sentAt?: Date;
  messageAttributes?: Record<string, MessageAttributeValue>;
}

export interface Peek {
  messages: PeekedMessage[];
  /** ApproximateNumberOfMessages + NotVisible when the peek started (others may be in flight). */
  approximateTotal: number;
  /** True when `limit` stopped the peek before the DLQ ran dry. */
  truncated: boolean;
  /** Makes every peeked message visible again at once (ChangeMessageVisibility 0); call it once. */
  release(): Promise<void>;
}

export interface PeekOptions {
  /** At most this many messages (default 1000). */
  limit?: number;
  /** How long peeked messages stay hidden if release() never runs (default 60 s). */
  holdSeconds?: number;
}

/** The DLQ's message count (visible + in flight), without receiving anything. */
export async function countMessages(sqs: SQSClient, queueUrl: string): Promise<number> {
  try {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  } catch (err) {
    throw new AwsError(`SQS GetQueueAttributes of ${queueUrl} failed: ${describeError(err)}`, { cause: err });
  }
}

function toPeeked(m: Message): PeekedMessage | undefined {
  if (!m.MessageId || !m.ReceiptHandle) return undefined;
  const sent = Number(m.Attributes?.SentTimestamp);
  return {
    messageId: m.MessageId,
    body: m.Body ?? '',
    receiptHandle: m.ReceiptHandle,
    receiveCount: Math.max(0, Number(m.Attributes?.ApproximateReceiveCount ?? 1) - 1),
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length ? { messageAttributes: m.MessageAttributes } : {}),
  };
}

/**
 * Reads a DLQ's messages without deleting any: each receive hides what it got for `holdSeconds`
 * so the next receive returns others, until a receive comes back empty or `limit` is reached.
 * release() then makes them all visible again at once. Nothing is deleted; the only trace is
 * one more receive on each message's ApproximateReceiveCount.
 */
export async function peekDeadLetters(sqs: SQSClient, queueUrl: string, options: PeekOptions = {}): Promise<Peek> {
  const limit = options.limit ?? 1000;
  const hold = options.holdSeconds ?? 60;
  const approximateTotal = await countMessages(sqs, queueUrl);
  const messages: PeekedMessage[] = [];
  const seen = new Set<string>();
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    for (let i = 0; i < messages.length; i += 10) {
      const batch = messages.slice(i, i + 10);
      await sqs
        .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((m, j) => ({ Id: `m${i + j}`, ReceiptHandle: m.receiptHandle, VisibilityTimeout: 0 })) }))
        .catch(() => undefined); // they come back by themselves after holdSeconds
    }
  };
  let truncated = false;
  try {
    for (;;) {
      const want = Math.min(10, limit - messages.length);
      if (want <= 0) {
        truncated = true;
        break;
      }
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: want,
          // A long poll of 1 s asks every SQS server, so an empty answer means empty.
          WaitTimeSeconds: 1,
          VisibilityTimeout: hold,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          MessageAttributeNames: ['All'],
        }),
      );
      const got = (out.Messages ?? []).map(toPeeked).filter((m): m is PeekedMessage => m !== undefined && !seen.has(m.messageId));
      if (!got.length) break;
      for (const m of got) {
        seen.add(m.messageId);
        messages.push(m);
      }
    }
  } catch (err) {
    await release();
    throw new AwsError(`SQS ReceiveMessage on ${queueUrl} failed: ${describeError(err)}`, { cause: err });
  }
  return { messages, approximateTotal, truncated, release };
}
