import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import type { Logger } from '../../logger.js';
import type { Intake, IntakeHandler } from './intake.js';

export interface SqsIntakeOptions {
  queueUrl: string;
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
export function createSqsIntake(sqs: SQSClient, options: SqsIntakeOptions): Intake {
  let consumer: Consumer | undefined;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const log = options.logger;

  return {
    start(handler: IntakeHandler) {
      if (consumer) return;
      consumer = Consumer.create({
        queueUrl: options.queueUrl,
        sqs,
        batchSize: options.batchSize,
        waitTimeSeconds: options.waitSeconds,
        visibilityTimeout: options.visibilitySeconds,
        heartbeatInterval: Math.max(1, Math.floor(options.visibilitySeconds / 2)),
        messageSystemAttributeNames: ['ApproximateReceiveCount'],
        pollingCompleteWaitTimeMs: 60_000,
        handleMessage: async (message: Message) => {
          inFlight++;
          try {
            const outcome = await handler({
              id: message.MessageId ?? '',
              body: message.Body,
              receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
            });
            return outcome === 'done' ? message : undefined;
          } finally {
            inFlight--;
            if (inFlight === 0) idle?.();
          }
        },
      });
      consumer.on('error', (err) => log.error('SQS receive failed', { reason: err.message }));
      consumer.on('processing_error', (err, message) => log.error('message handling failed; it will be retried', { messageId: message?.MessageId, reason: err.message }));
      consumer.start();
    },
    async stop() {
      const c = consumer;
      if (!c) return;
      // 'stopped' comes once the last receive has returned and its messages are handled: a
      // receive still in flight would otherwise hand messages to a bot that is shutting down.
      const stopped = new Promise<void>((resolve) => c.once('stopped', () => resolve()));
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
