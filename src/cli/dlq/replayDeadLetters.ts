import { DeleteMessageCommand, SendMessageCommand, StartMessageMoveTaskCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AwsError, describeError } from '../../errors.js';
import type { DeadLetterQueue } from './resolveDeadLetterQueue.js';
import type { PeekedMessage } from './peekDeadLetters.js';

/** Why a control message is never re-sent by hand. */
export const CONTROL_RESEND_REFUSAL =
  "control messages are only moved back by SQS's own redrive (StartMessageMoveTask), which keeps each message as it was: " +
  "a message re-sent with your credentials would carry your SenderId instead of the state machines' role, and the bot refuses it";

/** What to tell someone whose SQS endpoint lacks StartMessageMoveTask. */
export const MOVE_TASK_HINT =
  'if this SQS endpoint does not implement StartMessageMoveTask (moto 5.2.5 does not), intake messages can be re-sent one by one ' +
  'with `sentinel dlq replay --queue intake --all --resend`; control messages cannot';

/**
 * SQS's own redrive: starts a message move task from the DLQ to `destinationArn` (or, without
 * one, each message back to its own source queue). It runs in the background; messages keep
 * their body and attributes (SQS gives them new ids). Returns the task handle.
 */
export async function startMoveTask(sqs: SQSClient, dlq: DeadLetterQueue, destinationArn: string | undefined): Promise<string> {
  try {
    const out = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.dlqArn, ...(destinationArn ? { DestinationArn: destinationArn } : {}) }));
    return out.TaskHandle ?? '';
  } catch (err) {
    throw new AwsError(`SQS StartMessageMoveTask from ${dlq.dlqArn} failed: ${describeError(err)} (${MOVE_TASK_HINT})`, { cause: err });
  }
}

/**
 * Re-sends one intake message to its source queue (same body, same message attributes), then
 * deletes it from the DLQ. Only for the intake queue: events carry no sender requirement. Returns
 * the new message id. A delete that fails after the send leaves a duplicate, never a loss.
 */
export async function resendDeadLetter(sqs: SQSClient, dlq: DeadLetterQueue, message: PeekedMessage): Promise<string> {
  let messageId: string | undefined;
  try {
    const out = await sqs.send(
      new SendMessageCommand({ QueueUrl: dlq.sourceUrl, MessageBody: message.body, ...(message.messageAttributes ? { MessageAttributes: message.messageAttributes } : {}) }),
    );
    messageId = out.MessageId;
  } catch (err) {
    throw new AwsError(`SQS SendMessage of ${message.messageId} to the ${dlq.queue} queue failed: ${describeError(err)}`, { cause: err });
  }
  try {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: dlq.dlqUrl, ReceiptHandle: message.receiptHandle }));
  } catch (err) {
    throw new AwsError(`re-sent ${message.messageId} as ${messageId ?? '?'}, but deleting it from the DLQ failed (it is now on both): ${describeError(err)}`, { cause: err });
  }
  return messageId ?? '';
}
