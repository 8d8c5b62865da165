import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import type { Logger } from '../../logger.js';
import type { Intake, IntakeHandler, IntakeSource } from '../../handlers/ports/intake.js';

export interface SqsIntakeOptions {
  queueUrl: string;
  /** What the queue carries: the handler checks each message's kind and sender against it. */
  source: IntakeSource;
  batchSize: number;
  visibilitySeconds: number;
  waitSeconds: number;
  logger: Logger;
}

/**
 * SQS intake on sqs-consumer: long polling, batches handled concurrently (at
 * most `batchSize` at once), visibility extended by a heartbeat while a message
 * is handled, deletion only once it is fully handled. A message that keeps
 * failing stays on the queue and reaches the DLQ through the redrive policy.
 */
/**
 * The client sqs-consumer is given: receives carry `receiving`'s abort signal, so a stop ends the
 * open long poll at once; deletes and visibility changes carry none, so messages already handled
 * are still deleted while stopping (sqs-consumer's own abort would cancel those too).
 */
function withAbortableReceive(sqs: SQSClient, receiving: AbortSignal): SQSClient {
  const send = (command: Parameters<SQSClient['send']>[0]) =>
    command instanceof ReceiveMessageCommand ? sqs.send(command, { abortSignal: receiving }) : sqs.send(command);
  return { send } as unknown as SQSClient;
}

export function createSqsIntake(sqs: SQSClient, options: SqsIntakeOptions): Intake {
  let consumer: Consumer | undefined;
  let receiving: AbortController | undefined;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const log = options.logger;

  return {
    start(handler: IntakeHandler) {
      if (consumer) return;
      receiving = new AbortController();
      const abortSignal = receiving.signal;
      consumer = Consumer.create({
        queueUrl: options.queueUrl,
        sqs: withAbortableReceive(sqs, abortSignal),
        batchSize: options.batchSize,
        waitTimeSeconds: options.waitSeconds,
        visibilityTimeout: options.visibilitySeconds,
        heartbeatInterval: Math.max(1, Math.floor(options.visibilitySeconds / 2)),
        messageSystemAttributeNames: ['ApproximateReceiveCount', 'SenderId', 'SentTimestamp'],
        pollingCompleteWaitTimeMs: 60_000,
        handleMessage: async (message: Message) => {
          inFlight++;
          try {
            const sent = Number(message.Attributes?.SentTimestamp);
            const senderId = message.Attributes?.SenderId;
            const outcome = await handler({
              id: message.MessageId ?? '',
              body: message.Body,
              receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
              source: options.source,
              transport: 'sqs',
              ...(senderId ? { senderId } : {}),
              ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
            });
            return outcome === 'done' ? message : undefined;
          } finally {
            inFlight--;
            if (inFlight === 0) idle?.();
          }
        },
      });
      // Receive errors sqs-consumer does not treat as connection errors would be retried at once,
      // in a tight loop: back off (1 s doubling to 30 s) until a receive works again.
      let backoffMs = 0;
      const c = consumer;
      consumer.on('error', (err) => {
        if (abortSignal.aborted) return; // the long poll this intake ended itself, on stop
        backoffMs = Math.min(30_000, backoffMs ? backoffMs * 2 : 1000);
        c.updateOption('pollingWaitTimeMs', backoffMs);
        log.error('SQS receive failed; backing off', { reason: err.message, backoffMs });
      });
      const recovered = () => {
        if (backoffMs === 0) return;
        backoffMs = 0;
        c.updateOption('pollingWaitTimeMs', 0);
      };
      consumer.on('empty', recovered);
      consumer.on('response_processed', recovered);
      consumer.on('processing_error', (err, message) => log.error('message handling failed; it will be retried', { messageId: message?.MessageId, reason: err.message }));
      consumer.start();
    },
    async stop() {
      const c = consumer;
      if (!c) return;
      // 'stopped' comes once the last receive has returned and its messages are handled.
      const stopped = new Promise<void>((resolve) => c.once('stopped', () => resolve()));
      // End the open long poll now, then wait for the messages in flight, whose deletes still go
      // through. Nothing is lost: messages of a receive cut off in transit come back after their
      // visibility timeout.
      receiving?.abort();
      c.stop({ abort: false });
      await stopped;
      if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
      consumer = undefined;
    },
    isRunning() {
      return Boolean(consumer?.status.isRunning);
    },
  };
}
