/**
 * The baseline: the plainest consumer of a queue, one loop of ReceiveMessage (10 at a time, long
 * poll) and DeleteMessageBatch of what came, doing nothing else, until `count` messages are gone.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { cpuSecondsOf } from './cpuSecondsOf.js';

export interface PlainLoopResult {
  messages: number;
  seconds: number;
  perSecond: number;
  /** CPU this process used meanwhile (the loop's SDK calls: this process does nothing else while it runs). */
  cpuSeconds: number;
  /** CPU the queue's server used meanwhile, when its pid was given. */
  serverCpuSeconds?: number;
}

export async function drainWithPlainLoop(sqs: SQSClient, queueUrl: string, count: number, serverPid?: number): Promise<PlainLoopResult> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const server0 = serverPid === undefined ? 0 : cpuSecondsOf(serverPid);
  let deleted = 0;
  let emptyPolls = 0;
  while (deleted < count) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      if (++emptyPolls > 10) throw new Error(`the queue ran dry after ${deleted} of ${count} messages`);
      continue;
    }
    emptyPolls = 0;
    const res = await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
    );
    if (res.Failed?.length) throw new Error(`DeleteMessageBatch failed for ${res.Failed.length} message(s)`);
    deleted += messages.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    messages: deleted,
    seconds,
    perSecond: deleted / seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    ...(serverPid === undefined ? {} : { serverCpuSeconds: cpuSecondsOf(serverPid) - server0 }),
  };
}
