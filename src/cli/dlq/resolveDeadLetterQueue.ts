import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import type { IntakeSource } from '../../handlers/ports/intake.js';
import { AwsError, UserError, describeError } from '../../errors.js';

/** A source queue (intake or control) and the DLQ its redrive policy names. */
export interface DeadLetterQueue {
  queue: IntakeSource;
  sourceUrl: string;
  sourceArn: string;
  dlqUrl: string;
  dlqArn: string;
  /** Deliveries before SQS moves a message to the DLQ. */
  maxReceiveCount: number;
}

const redrivePolicySchema = z.object({
  deadLetterTargetArn: z.string().regex(/^arn:[a-z0-9-]+:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/),
  maxReceiveCount: z.coerce.number().int().min(1),
});

/**
 * Finds a queue's DLQ from its RedrivePolicy (GetQueueAttributes, then GetQueueUrl for the DLQ,
 * with the caller's credentials). A queue without a redrive policy has no DLQ: UserError.
 */
export async function resolveDeadLetterQueue(sqs: SQSClient, queue: IntakeSource, sourceUrl: string): Promise<DeadLetterQueue> {
  let attributes: Record<string, string> | undefined;
  try {
    attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: sourceUrl, AttributeNames: ['QueueArn', 'RedrivePolicy'] }))).Attributes;
  } catch (err) {
    throw new AwsError(`SQS GetQueueAttributes of the ${queue} queue ${sourceUrl} failed: ${describeError(err)}`, { cause: err });
  }
  const sourceArn = attributes?.QueueArn;
  if (!sourceArn) throw new AwsError(`SQS GetQueueAttributes of the ${queue} queue ${sourceUrl} returned no QueueArn`);
  if (!attributes?.RedrivePolicy) throw new UserError(`the ${queue} queue ${sourceUrl} has no redrive policy, so it has no DLQ (sentinel provision sets one)`);
  let policy: z.infer<typeof redrivePolicySchema>;
  try {
    policy = redrivePolicySchema.parse(JSON.parse(attributes.RedrivePolicy));
  } catch (err) {
    throw new AwsError(`the ${queue} queue's RedrivePolicy cannot be read: ${describeError(err)}`, { cause: err });
  }
  const [, , , , account, name] = policy.deadLetterTargetArn.split(':');
  let dlqUrl: string | undefined;
  try {
    dlqUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: name!, QueueOwnerAWSAccountId: account! }))).QueueUrl;
  } catch (err) {
    throw new AwsError(`SQS GetQueueUrl of the ${queue} queue's DLQ ${policy.deadLetterTargetArn} failed: ${describeError(err)}`, { cause: err });
  }
  if (!dlqUrl) throw new AwsError(`SQS GetQueueUrl of ${policy.deadLetterTargetArn} returned no URL`);
  return { queue, sourceUrl, sourceArn, dlqUrl, dlqArn: policy.deadLetterTargetArn, maxReceiveCount: policy.maxReceiveCount };
}
