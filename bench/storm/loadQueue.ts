/** Puts messages on a queue in batches of 10, a few batches at a time. */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

export async function loadQueue(sqs: SQSClient, queueUrl: string, bodies: readonly unknown[], concurrency = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const start = next;
      next += 10;
      if (start >= bodies.length) return;
      const entries = bodies.slice(start, start + 10).map((b, j) => ({ Id: `m${start + j}`, MessageBody: typeof b === 'string' ? b : JSON.stringify(b) }));
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      if (out.Failed?.length) throw new Error(`SendMessageBatch failed for ${out.Failed.length} message(s): ${out.Failed[0]?.Message ?? ''}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
